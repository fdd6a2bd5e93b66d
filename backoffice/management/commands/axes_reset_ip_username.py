from axes.management.commands import axes_reset_ip_username

from backoffice.management.axes_audit import audited

Command = audited(axes_reset_ip_username.Command)
