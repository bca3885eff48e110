"""applytry: SMS-verified one-click trial sign-up behind Huawei Cloud CEC's published contract."""

__version__ = "0.1.0"

import warnings

# connexion imports starlette.testclient when it is imported, which warns about httpx in every
# process, before logging is set up; the service never uses the test client.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
