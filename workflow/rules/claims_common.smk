# Helpers of the claims rules (claims.smk): which result tables each configured paper's claims read
# (pipeline/targets.py builds them), and the command's options. The input names are declared in
# pipeline/claims/tables.py (INPUTS); what targets.py builds is checked against them.

from pipeline.claims import tables as claim_inputs


def claims_input_files(wildcards=None):
    """Input name -> file(s) of the claims rules (pipeline.targets), checked against the names declared."""
    inputs = targets.claims_input_files(config)
    claim_inputs.check_built(
        inputs, config["claims"], lambda name: targets.is_planted(config, name)
    )
    return inputs


def claims_args(wildcards, input):
    """The commands' input options, each path taken from the job's inputs (a module prefix carries over)."""
    args = []
    for name in claims_input_files():
        files = input[name]
        files = [files] if isinstance(files, str) else list(files)
        args.append(" ".join([claim_inputs.option(name), *files]))
    dummies = config["claims"].get("diffusion", {}).get("dummies")
    if dummies is not None:
        label = config["diffusion"]["experiments"][dummies]["keep_label"]
        args.append(f"{claim_inputs.option(claim_inputs.DUMMIES_CLASS)} {label}")
    return " ".join(args)
