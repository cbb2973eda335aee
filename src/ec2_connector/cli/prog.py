"""The command's name, as every message and usage line says it (imports nothing)."""

PROG = "ec2-connector"
