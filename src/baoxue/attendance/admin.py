"""Nothing here on purpose: attendance records are children's data, written by imports and read
through pages where scope and the access log apply (as in baoxue.registry.admin)."""
