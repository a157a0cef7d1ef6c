"""Where the manager's decisions happen: the executor interface, the local executor (render
processes on this machine) and the loop that ties an executor to a manager."""
