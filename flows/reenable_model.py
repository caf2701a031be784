"""The ``reenable-model`` flow: Guardian approval, re-verify, restore alias, switch on (in progress)."""
