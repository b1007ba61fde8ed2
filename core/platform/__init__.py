"""The platform every domain stands on: the store and its migrations, jobs and the inbox, scope,
audit, settings, secrets, exports, sync-run bookkeeping and calendar helpers.

Imports no other core package.
"""
