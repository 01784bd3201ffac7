"""The only modules that import ansible-runner, Ansible, Fabric and paramiko.

`ansible` runs playbooks and roles, `ssh` runs one command on many hosts; both return the frozen
types in `results`. Nothing is imported here so that importing the result types stays cheap.
"""
