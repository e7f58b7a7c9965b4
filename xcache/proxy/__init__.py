"""xcache proxy: slot routing, admission gate, failover hiding (see admission.py, session.py, backend.py)."""
