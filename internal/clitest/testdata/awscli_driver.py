# Runs many AWS CLI commands in one Python process, so that the CLI's start-up
# (loading Python and the service models: about a second each) is paid once,
# not once per example. It calls awscli.clidriver, the entry point /usr/bin/aws
# itself calls, with each command's arguments; one driver (and so one
# botocore session, whose loaded models it caches) serves every command. Each
# command passes --endpoint-url, --region and --output itself, so no option
# of one command carries over to the next. stdin: a JSON list of argument lists. stdout: a JSON
# list of {"rc", "stdout", "stderr"}, one per command, in order.
import contextlib
import io
import json
import sys

import awscli.clidriver

driver = awscli.clidriver.create_clidriver()
results = []
for args in json.load(sys.stdin):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = driver.main(args)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
        except Exception as e:  # a crash of the CLI is that command's failure
            print("driver: %s: %s" % (type(e).__name__, e), file=sys.stderr)
            rc = 255
    results.append({"rc": rc, "stdout": out.getvalue(), "stderr": err.getvalue()})
json.dump(results, sys.__stdout__)
