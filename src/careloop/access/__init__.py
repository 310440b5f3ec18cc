"""Access: offer each patient a slot that fits their day, book it from a reply, arrange a ride.

Services: ``slots`` (free slots from the record), ``patientday`` and ``finder`` (ranking),
``service`` (the offers a command or a page asks for), ``booking`` (hold, book, cancel; one
live booking per slot), ``grammar`` (reply words in English and Spanish), ``rides`` (the ride
provider adapters), ``waitlist`` (back-fill). Details: ``docs/access.md``.
"""
