"""What exists, as data: the state types observe produces and plan reads (plan never imports observe)."""
