"""Database backends tuned for a process whose database work all runs on one thread."""
