"""The DWCP training pipeline: definition, profiles, compilation, local runs and submission.

Developer tooling, not part of the installed library (`dwcp_training` never imports KFP); the
`dwcp pipeline ...` commands put the repository root on `sys.path` to reach it.
"""
