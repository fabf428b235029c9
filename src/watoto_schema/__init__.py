"""watoto-schema: the database toolkit of the Watoto LMS.

Every operation is a plain function in a capability module (``migrate``, ``local``,
``sample_data``) that takes a connection string and returns a result object; the
``cli`` package only parses options and renders results.
"""

__version__ = "0.1.0"
