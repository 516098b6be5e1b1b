"""Layer classes, one family per file; re-exported by minimod.nn."""
