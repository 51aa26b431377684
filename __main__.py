"""rollback-guard: settings → components → exports."""

import pulumi

import program
from settings import load_settings

for key, value in program.build(load_settings()).exports.items():
    pulumi.export(key, value)
