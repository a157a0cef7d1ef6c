"""The farm manager as an HTTP service: the API (FastAPI, ``service.app.create_app``), API
tokens (``service.auth``), Prometheus metrics, the scheduling loop, and a Python client of the
API (``service.client.FarmClient``). ``render-farm serve`` runs it.

Import the modules themselves: importing the client does not load the server's dependencies.
"""
