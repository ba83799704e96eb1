"""Who may do what: roles and the permission check (roles.py), local users and passwords (users.py,
passwords.py), identity-provider accounts and the allow-list (access.py), the audit trail (audit.py) and
spending limits (budgets.py). Their tables live in tables.py. No Streamlit here: the app's sign-in gate is in
app.py and lib/ui.py; the guarded entry points people call are in lib/actions.py."""
