"""The patient portal: server-rendered pages for patients and proxy caregivers."""
