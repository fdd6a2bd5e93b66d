from axes.management.commands import axes_reset_ip

from backoffice.management.axes_audit import audited

Command = audited(axes_reset_ip.Command)
