"""Exports: the file machinery every list's Export action shares, generic
over a column catalogue that the list's app provides (the accounts grid's
is ``accounts.columns``).

columns   the export column and the ``Catalogue`` an app subclasses
cells     kinds of column, formula escaping, CSV and XLSX cells
copy      the COPY path of CSV on PostgreSQL, and the SQL helpers it needs
files     part and final files, the CSV and XLSX assembly, deletion, purge
templates saved export templates: the read and the audited writes
forms     the Export dialog's form
action    ``ExportAction``: apply, finish and cancel of an export
downloads who may download the file, until when
views     the dialog's htmx fields, the templates page, the download
"""
