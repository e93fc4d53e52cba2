"""The audit page: who did what, and who was refused what, for the township office and the
county (the rows are core.models.AuditEvent). It sits above every domain app, since "who
looked at this child" reads children and their cases; it has no models of its own."""
