"""Getting an install from first run to first upload: the setup checklist, the connections' Tests,
and the settings from the command line."""
