from axes.management.commands import axes_reset

from backoffice.management.axes_audit import audited

Command = audited(axes_reset.Command)
