"""compile_args.py - a compile_commands.json entry's compiler command without
what writes files (-o, the dependency files) and without the arguments
@drop says, for the checks that compile the sources again their own way
(check-32bit.py, check-release.py)."""
import shlex


def compile_args(entry, drop):
    """The entry's arguments: -o, -MQ, -MF, -MT with their values, -MD, -MMD
    and colour left out, and each for which drop(arg) is true."""
    args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    out = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-o", "-MQ", "-MF", "-MT"):
            skip = True
            continue
        if a in ("-MD", "-MMD", "-fdiagnostics-color=always") or drop(a):
            continue
        out.append(a)
    return out
