"""applytry: SMS-verified one-click trial sign-up behind Huawei Cloud CEC's published contract."""

__version__ = "0.1.0"
