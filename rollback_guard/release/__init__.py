"""Releases through CodeDeploy: AppSpec builders and the engine that creates a deployment, follows
it to its end and explains a failure. Plain boto3, no Pulumi: the Pulumi release resource
(components/release.py) and the operations command line both drive it."""
