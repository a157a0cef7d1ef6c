"""Renderer adapters: the command line a task runs, and what the renderer's own output says
(progress, frames written, errors and what kind of failure they are). One module per renderer."""
