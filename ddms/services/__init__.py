"""Business rules, one module per noun; REST handlers and pages both call these."""
