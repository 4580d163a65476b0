"""Small helpers every app may use: the ground under the ground floor. Nothing
here imports a module of the project."""
