"""forms: forms sent to a patient's phone and signed there (issue 25)"""

from careloop.migrations import ddl

revision = "0300"
down_revision = "0290"


def upgrade() -> None:
    ddl.create_table(
        "form_requests",
        *ddl.columns(
            "id str32, patient_id str64, form str64, state str16, sent_at utc, sent_by str128",
            "expires_at utc, failed_checks int, signed_at utc?, document_sha256 str64?",
            "signed_resources json?",
        ),
        refs=(ddl.PATIENT,),
        indexes=(ddl.index("patient_id", "sent_at", name="ix_form_requests_patient"),),
    )


def downgrade() -> None:
    ddl.drop_tables("form_requests")
