"""E-mails of the scripts' e-mail steps: a durable outbox and the task that sends it.

When an agent records an interaction whose walk went through a step with an ``email``
action, the console renders the message and queues it in the ``outbox`` table in the
same transaction (`centralita.mail.outbox.enqueue`). The daemon's mail task
(`centralita.mail.sender.MailSender`) sends pending messages over SMTP (aiosmtplib),
with STARTTLS and credentials from the configuration, and retries with backoff: a mail
server that is down never blocks the agent, the console or the daemon.
"""
