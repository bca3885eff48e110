"""Operation handlers: read the request, call the domain, shape the reply. Nothing else."""
