"""A notebook kernel as Studio starts one, without Jupyter: IPython runs
each start-up file of ~/.ipython/profile_default/startup in the user
namespace, then the notebook's cells run in that same namespace, in one
process.

Usage: python studio_kernel.py STARTUP_FILE... -- NOTEBOOK.py
"""

import sys

args = sys.argv[1:]
split = args.index("--")
user_ns = {"__name__": "__main__"}
for path in args[:split] + args[split + 1:]:
    with open(path) as f:
        exec(compile(f.read(), path, "exec"), user_ns)
