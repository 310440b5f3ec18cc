"""Channel adapters: how a rendered message leaves the building and how replies come back.

A leaf package. It speaks providers' protocols (Twilio REST and TwiML, SMTP, the portal inbox)
and knows nothing of programs, patients, consent or journeys: consent, quiet hours, retries
and rate limiting are the outbox's job. See ``docs/channels.md`` for the contract.
"""
