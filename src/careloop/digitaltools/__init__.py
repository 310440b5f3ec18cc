"""Digital tools prescribed by the care team (apps, devices, coaching, classes) and followed."""
