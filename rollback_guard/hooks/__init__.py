"""Lambda handlers shipped as assets: CodeDeploy lifecycle hooks and smoke checks.

Nothing here imports the Pulumi program; the program packages this folder by path.
"""
