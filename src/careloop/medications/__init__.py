"""Medications and exam preparation: dose reminders at the patient's own routine times,
confirmations, refills, teach-back before an exam, and adverse-event cases of patient-support
programs. A workflow between ``conversations`` (which routes replies here) and ``careteam``
(which gets the tasks); see docs/medications.md."""
