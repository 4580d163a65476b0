"""Thin Celery wrappers around communications.dispatch."""

from celery import shared_task

from communications import dispatch, limiter


@shared_task(name="communications.send_due_messages", ignore_result=True)
def send_due_messages():
    dispatch.send_due_messages()


@shared_task(name="communications.mark_lost_sendings", ignore_result=True)
def mark_lost_sendings():
    dispatch.mark_lost_sendings()


@shared_task(name="communications.purge_send_windows", ignore_result=True)
def purge_send_windows():
    limiter.purge_old_windows()
