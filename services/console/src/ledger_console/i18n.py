"""Japanese and English (issue 13 item 7). The seed's own terms are kept word for word in Japanese.

Pure: `negotiate` picks the language from an explicit choice (query or cookie) or the browser's
`Accept-Language`; `Translator` looks up a key. A missing key is a bug: tests check that both
languages hold the same keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Lang = Literal["ja", "en"]
LANGS: tuple[Lang, ...] = ("ja", "en")
DEFAULT_LANG: Lang = "en"

# key: (Japanese, English)
_PAIRS: dict[str, tuple[str, str]] = {
    # chrome
    "app.title": ("デバイス台帳", "Device ledger"),
    "nav.devices": ("デバイス", "Devices"),
    "nav.integrations": ("連携", "Integrations"),
    "nav.master_links": ("マスタ連携", "Master link"),
    "nav.runs": ("同期履歴", "Sync runs"),
    "nav.conflicts": ("競合", "Conflicts"),
    "nav.audit": ("監査ログ", "Audit log"),
    "audit.title": ("監査ログ", "Audit log"),
    "audit.none": ("記録はありません。", "Nothing recorded."),
    "audit.when": ("日時", "When"),
    "audit.who": ("実行者", "Who"),
    "audit.action": ("操作", "Action"),
    "audit.target": ("対象", "Target"),
    "audit.before": ("変更前", "Before"),
    "audit.after": ("変更後", "After"),
    "audit.operator": ("運用コマンド", "operator command"),
    "audit.unsupported": ("この API には監査ログがありません。", "This API has no audit log."),
    "nav.signout": ("サインアウト", "Sign out"),
    "nav.language": ("English", "日本語"),
    "scope.admin": ("管理者", "admin"),
    "scope.read": ("閲覧のみ", "read-only"),
    "readonly.banner": (
        "閲覧専用トークンでサインインしています。変更はできません。",
        "Signed in with a read-only token: nothing can be changed.",
    ),
    "tz.note": (
        "時刻はテナントのタイムゾーン ({tz}) で表示しています",
        "Times are in the tenant's zone ({tz})",
    ),
    # sign-in
    "signin.title": ("サインイン", "Sign in"),
    "signin.token": ("API トークン", "API token"),
    "signin.help": (
        "管理者 (admin) または閲覧 (read) スコープの API トークンを入力してください。"
        "トークンはサーバー側にのみ保持され、ブラウザには保存されません。",
        "Enter an API token of scope admin or read. The token is kept on the server only; the "
        "browser holds a session cookie.",
    ),
    "signin.submit": ("サインイン", "Sign in"),
    "signin.invalid": ("トークンが正しくありません。", "The token was not accepted."),
    "signin.api_down": ("台帳 API に接続できません: {reason}", "The ledger API cannot be reached: {reason}"),
    # ledger
    "devices.title": ("デバイス台帳", "Device ledger"),
    "devices.filter": ("フィルタ", "Filter"),
    "devices.columns": ("表示項目", "Columns"),
    "devices.apply": ("適用", "Apply"),
    "devices.reset": ("クリア", "Clear"),
    "devices.q": ("キーワード", "Search"),
    "devices.q_help": (
        "資産番号・シリアル・型番・利用者・デバイス名の一部",
        "part of asset number, serial, model, user or device name",
    ),
    "devices.source_any": ("すべて", "Any"),
    "devices.missing_only": ("MDM から消えたデバイスのみ", "Missing from MDM only"),
    "devices.sort": ("並び順", "Sort"),
    "devices.none": ("該当するデバイスはありません。", "No device matches."),
    "devices.next": ("次へ", "Next"),
    "devices.prev": ("前へ", "Previous"),
    "devices.first": ("最初へ", "First"),
    "devices.page_note": (
        "{n} 件を表示 (1 ページ {size} 件、カーソルで取得)",
        "{n} shown ({size} per page, fetched by cursor)",
    ),
    "devices.export": ("CSV エクスポート", "Export CSV"),
    "devices.import": ("CSV インポート", "Import CSV"),
    "devices.missing_badge": ("MDM から消失", "missing from MDM"),
    # CSV import
    "import.title": ("CSV 一括登録", "CSV import"),
    "import.file": ("CSV ファイル", "CSV file"),
    "import.validate_only": ("検証のみ (変更しない)", "Validate only (change nothing)"),
    "import.submit": ("インポート", "Import"),
    "import.help": (
        "エクスポートした CSV と同じ列です。MDM 項目 (mdm_…) は無視されます。"
        "1 行でも誤りがあれば何も変更されません。",
        "Same columns as the export. MDM-only columns (mdm_…) are ignored. If any row is wrong, "
        "nothing is changed.",
    ),
    "import.errors": ("{n} 件のエラー: 何も変更されていません", "{n} error(s): nothing was changed"),
    "import.row": ("行", "Row"),
    "import.column": ("列", "Column"),
    "import.message": ("内容", "Problem"),
    "import.valid": (
        "問題ありません: 作成 {created} 件、更新 {updated} 件になります。",
        "The file is valid: it would create {created} and update {updated} device(s).",
    ),
    "import.applied": (
        "インポートしました: {rows} 行 (作成 {created}、更新 {updated}、変更なし {unchanged})",
        "Imported {rows} row(s): {created} created, {updated} updated, {unchanged} unchanged",
    ),
    "import.pending": (
        "受け付けました。反映中です (インポート ID {import_id})。",
        "Accepted; still being applied (import {import_id}).",
    ),
    "import.too_large": (
        "ファイルが大きすぎます (上限 {mb} MiB)。",
        "The file is too large (at most {mb} MiB).",
    ),
    "import.no_file": ("ファイルを選択してください。", "Choose a file."),
    # fields
    "field.device_id": ("デバイス ID", "Device id"),
    "field.asset_number": ("資産番号", "Asset number"),
    "field.serial_number": ("シリアルナンバー", "Serial number"),
    "field.os": ("OS", "OS"),
    "field.manufacturer": ("メーカー", "Manufacturer"),
    "field.model": ("型番", "Model"),
    "field.assigned_user": ("利用者", "Assigned user"),
    "field.status": ("ステータス", "Status"),
    "field.notes": ("メモ", "Notes"),
    "field.source": ("ソース", "Source"),
    "field.missing_from_mdm": ("MDM から消失", "Missing from MDM"),
    "field.last_seen_at": ("MDM 最終確認", "Last seen by MDM"),
    "field.created_at": ("作成日時", "Created"),
    "field.updated_at": ("更新日時", "Updated"),
    "field.version": ("版", "Version"),
    "field.binding": ("紐付け", "Binding"),
    # MDM-only fields (R-I8, SPEC §3)
    "mdm.title": ("MDM 項目", "MDM-only fields"),
    "mdm.help": (
        "MDM と同期しているデバイスのみ表示されます。常に最新の MDM の値が優先され、"
        "マスタ連携が解除されると削除されます。",
        "Shown for devices synced with an MDM; always the latest MDM value; removed when the master "
        "link is removed.",
    ),
    "mdm.device_name": ("デバイス名", "Device name"),
    "mdm.mdm_device_id": ("UUID", "UUID"),
    "mdm.enrolled_at": ("登録日時", "Enrolled"),
    "mdm.last_check_in_at": ("最終チェックイン日時", "Last check-in"),
    "mdm.primary_user_email": (
        "プライマリユーザーのメールアドレス / UPN",
        "Primary user e-mail / UPN",
    ),
    "mdm.disk_capacity_gb": ("ディスク容量 (GB)", "Disk capacity (GB)"),
    "mdm.registration_status": ("登録ステータス", "Registration status"),
    "mdm.jamf_id": ("Jamf ID", "Jamf id"),
    "mdm.udid": ("UDID", "UDID"),
    "mdm.username": ("ユーザー名", "Username"),
    "mdm.management_status": ("管理状態", "Management status"),
    # device detail
    "device.title": ("デバイス詳細", "Device"),
    "device.ledger": ("台帳項目", "Ledger fields"),
    "device.custom": ("カスタム項目", "Custom fields"),
    "device.history": ("変更履歴", "History"),
    "device.no_custom": ("カスタム項目はありません。", "No custom fields are defined."),
    "device.no_history": ("履歴はありません。", "No history."),
    "device.older": ("さらに古い履歴", "Older changes"),
    "device.not_found": ("デバイスが見つかりません。", "No such device."),
    # history explanation
    "hist.created": ("作成", "Created"),
    "hist.updated": ("更新", "Updated"),
    "hist.deleted": ("削除", "Deleted"),
    "hist.source_changed": ("ソース変更", "Source changed"),
    "hist.by_sync": ("{mdm} の {time} の同期", "the {mdm} sync of {time}"),
    "hist.by_manual": ("手動編集", "a manual edit"),
    "hist.by_csv": ("CSV インポート", "a CSV import"),
    "hist.by_unlink": ("{mdm} のマスタ連携解除", "the unlink of {mdm}"),
    "hist.by_other": ("{actor}", "{actor}"),
    "hist.headline": ("{what}: {by}", "{what} by {by}"),
    "hist.source_from": ("ソース: {before} → {after}", "Source: {before} → {after}"),
    "hist.rule.ledger_first": (
        "台帳優先 (台帳が空のときだけ MDM の値を書き込む)",
        "ledger-first (the MDM value is written only into an empty field)",
    ),
    "hist.rule.mdm_first": ("MDM 優先", "MDM-first"),
    "hist.rule.mdm_only": ("MDM 項目 (常に最新の MDM の値)", "MDM-only field (always the latest MDM value)"),
    "hist.rule.binding": ("MDM デバイスと紐付け", "bound to the MDM device"),
    "hist.rule.manual": ("手動で変更", "changed by hand"),
    "hist.rule.csv": ("CSV で変更", "changed by CSV"),
    "hist.rule.unlink": ("連携解除で削除", "removed by the unlink"),
    "hist.field_line": ("{field}: {before} → {after} — {rule}", "{field}: {before} → {after} — {rule}"),
    "hist.rule_for": ("{field}は{rule}", "{rule} for the {field}"),
    "hist.empty": ("(空)", "(empty)"),
    # sources
    "source.manual": ("手動", "Manual"),
    "source.intune": ("Intune", "Intune"),
    "source.jamf_pro": ("Jamf Pro", "Jamf Pro"),
    # integrations
    "int.title": ("連携", "Integrations"),
    "int.category": ("IT デバイス", "IT devices"),
    "int.admin_only": (
        "連携の一覧は管理者 (admin) スコープのトークンでのみ表示できます。",
        "Integrations are shown to tokens of scope admin only.",
    ),
    "int.none": ("連携はまだありません。", "No integration yet."),
    "int.name": ("連携名", "Name"),
    "int.kind": ("種類", "Kind"),
    "int.state": ("状態", "State"),
    "int.state.connected": ("連携済", "Connected"),
    "int.state.master_linked": ("マスタ連携中", "Master-linked"),
    "int.state.error": ("エラー", "Error"),
    "int.state.untested": ("未テスト", "Not tested"),
    "int.failure.authentication": ("認証エラー", "authentication"),
    "int.failure.consent_or_permission": ("同意・権限の不足", "consent or permission"),
    "int.failure.network": ("ネットワーク", "network"),
    "int.failure.tls": ("TLS", "TLS"),
    "int.failure.mdm_error": ("MDM のエラー", "MDM error"),
    "int.failure.sync_failed": ("同期の失敗", "sync failed"),
    "int.failure.url": ("URL", "URL"),
    "int.last_ok": ("最後に成功: {at}", "Last worked: {at}"),
    "int.connect_intune": ("Microsoft Intune を接続", "Connect Microsoft Intune"),
    "int.connect_jamf": ("Jamf Pro を接続", "Connect Jamf Pro"),
    "int.connect": ("接続する", "Connect"),
    "int.connected_ok": ("接続しました。", "Connected."),
    "int.secret_note": (
        "シークレットは暗号化して保存され、二度と表示されません。",
        "Secrets are stored encrypted and never shown again.",
    ),
    "int.has_secret": ("シークレット保存済", "secret stored"),
    "int.no_secret": ("シークレットなし", "no secret"),
    "int.rotate": ("シークレットを更新", "Rotate the secret"),
    "int.rotate_submit": ("更新する", "Replace"),
    "int.rotated": (
        "シークレットを更新しました。次回の同期から新しいシークレットが使われます。",
        "The secret was replaced; the next sync uses the new one.",
    ),
    "int.rotate_unsupported": (
        "この API ではシークレットを更新できません。",
        "This API cannot replace a secret.",
    ),
    "int.secret_missing": ("新しいシークレットを入力してください。", "Enter the new secret."),
    "int.test": ("接続テスト", "Test connection"),
    "int.test_ok": ("接続テストに成功しました。", "The connection test succeeded."),
    "int.test_failed": ("接続テストに失敗しました: {reason}", "The connection test failed: {reason}"),
    "int.test_missing": (
        "この API には接続テスト (POST /v1/integrations/{{id}}/test) がまだありません。",
        "This API does not offer a connection test yet (POST /v1/integrations/{{id}}/test answered 404).",
    ),
    "int.link": ("連携", "Link"),
    "int.optional": ("任意", "optional"),
    "int.auth_client": ("API クライアント (client_id + client_secret)", "API client (client id + secret)"),
    "int.auth_user": ("ユーザー (username + password)", "User (username + password)"),
    # master links
    "ml.title": ("マスタ連携", "Master link"),
    "ml.none": ("マスタ連携はありません。", "No master link."),
    "ml.linked_mark": ("✔ マスタ連携中", "✔ master-linked"),
    "ml.workspace": ("ワークスペース", "Workspace"),
    "ml.matching_key": ("突合キー", "Matching key"),
    "ml.matching_mdm": ("MDM 側", "MDM side"),
    "ml.matching_ledger": ("台帳側", "Ledger side"),
    "ml.asset_source": ("資産番号の取得元", "Asset number from"),
    "ml.sync_time": ("毎日の同期時刻", "Daily sync time"),
    "ml.time_zone": ("タイムゾーン", "Time zone"),
    "ml.next_run": ("次回の同期", "Next sync"),
    "ml.last_run": ("前回の同期", "Last sync"),
    "ml.preview": ("プレビュー (ドライラン)", "Preview (dry run)"),
    "ml.preview_title": ("マスタ連携のプレビュー", "Master link preview"),
    "ml.preview_pending": (
        "ドライランはまだ実行中です。結果は同期履歴で確認できます。",
        "The dry run is still running; follow it in the sync runs.",
    ),
    "ml.preview_failed": (
        "ドライランが失敗しました。連携の接続テストを確認してください。",
        "The dry run failed; check the integration's connection test.",
    ),
    "ml.preview_empty": ("このマスタ連携で変わるデバイスはありません。", "Linking changes no device."),
    "ml.preview_none": (
        "この API は連携前のドライランを提供していません。"
        "下記の設定で連携すると、最初に全件同期が行われます。"
        "連携後は「ドライラン」でいつでも変更内容を確認できます。",
        "This API offers no dry run before a link exists: linking with these settings runs a first "
        "full sync at once. Once linked, a dry run shows what a sync would change at any time.",
    ),
    "ml.execute": ("実行する", "Run"),
    "ml.done": ("マスタ連携が完了しました", "The master link is complete"),
    "ml.started": (
        "マスタ連携を開始しました。最初の同期を実行中です。",
        "Master link created; its first sync is running.",
    ),
    "ml.sync_now": ("今すぐ同期", "Sync now"),
    "ml.dry_run": ("ドライラン", "Dry run"),
    "ml.unlink": ("連携解除", "Unlink"),
    "ml.unlink_title": ("マスタ連携解除", "Unlink the master link"),
    "ml.unlink_prompt": (
        "以下の2つのオプションからお選びください。",
        "Choose one of the two options.",
    ),
    "ml.keep": ("すべての同期済みデバイスを保持する", "Keep all synced devices"),
    "ml.keep_help": (
        "MDM から同期されたすべてのデバイスが保持され、データソースが手動に変更されます。"
        "以後、手動で作成されたデバイスとして扱われます。",
        "Every device synced from the MDM stays; its source becomes manual and it is treated as "
        "created by hand from then on.",
    ),
    "ml.delete": ("同期済みデバイスを削除する", "Delete the synced devices"),
    "ml.delete_help": (
        "MDM から同期されたすべてのデバイスが台帳から削除されます。",
        "Every device synced from the MDM is deleted from the ledger.",
    ),
    "ml.unlink_final": (
        "よろしければ「解除する」をクリックしてください。",
        "If you are sure, click “Unlink”.",
    ),
    "ml.unlink_confirm": ("解除する", "Unlink"),
    "ml.unlinked": ("マスタ連携を解除しました。", "The master link was removed."),
    "ml.cancel": ("キャンセル", "Cancel"),
    "ml.change": ("設定を変更", "Change settings"),
    "ml.apply_change": ("この内容で変更する", "Apply this change"),
    "ml.change_saved": ("設定を変更しました。", "Settings changed."),
    "ml.change_unsupported": (
        "この API ではマスタ連携の設定を変更できません (PATCH /v1/master-links/{{id}} がありません)。",
        "This API cannot change a master link yet (no PATCH /v1/master-links/{{id}}).",
    ),
    "ml.paused": ("一時停止中", "paused"),
    "ml.pause": ("一時停止", "Pause"),
    "ml.resume": ("再開", "Resume"),
    "ml.schedule_title": ("毎日の同期時刻", "Daily sync time"),
    "ml.save_schedule": ("同期時刻を保存", "Save the sync time"),
    "ml.schedule_saved": ("同期時刻を変更しました。", "The sync time was changed."),
    "ml.matching_title": ("突合の設定", "Matching settings"),
    "ml.matching_help": (
        "突合キーまたは資産番号の取得元を変更すると、まずドライランで変更内容を確認し、"
        "その後に明示的に適用します。",
        "A new matching key or asset-number source is first planned by a dry run; you apply it "
        "explicitly afterwards.",
    ),
    "ml.no_change": (
        "突合キーも資産番号の取得元も変わっていません。",
        "Neither the matching key nor the asset-number source changes.",
    ),
    "ml.paused_ok": ("一時停止しました。", "Paused."),
    "ml.resumed_ok": ("再開しました。", "Resumed."),
    "ml.plan_title": ("設定変更のプレビュー", "Settings change preview"),
    "ml.plan_status": ("プレビューの状態", "Preview state"),
    "plan.status.planning": ("ドライラン実行中", "dry run running"),
    "plan.status.ready": ("適用できます", "ready to apply"),
    "plan.status.failed": ("ドライランが失敗しました", "the dry run failed"),
    "plan.status.applied": ("適用済", "applied"),
    "plan.status.stale": ("古くなりました (もう一度プレビューしてください)", "stale: plan again"),
    "ml.current": ("現在", "Current"),
    "ml.proposed": ("変更後", "Proposed"),
    "key.serial_number": ("シリアルナンバー", "Serial number"),
    "key.uuid": ("UUID", "UUID"),
    "key.device_name": ("デバイス名", "Device name"),
    "key.asset_number": ("資産番号", "Asset number"),
    "plan.counts": (
        "作成 {create} 件、更新 {update} 件、競合 {conflict} 件、消失 {mark_missing} 件",
        "{create} to create, {update} to update, {conflict} conflicts, {mark_missing} to mark missing",
    ),
    "plan.action": ("操作", "Action"),
    "plan.changes": ("変更", "Changes"),
    "plan.action.create": ("作成", "create"),
    "plan.action.update": ("更新", "update"),
    "plan.action.conflict": ("競合", "conflict"),
    "plan.action.mark_missing": ("消失", "mark missing"),
    "plan.waiting": ("ドライランの結果を待っています…", "Waiting for the dry run…"),
    # runs
    "runs.title": ("同期履歴", "Sync runs"),
    "runs.none": ("同期はまだありません。", "No sync run yet."),
    "run.title": ("同期", "Sync run"),
    "run.status": ("状態", "Status"),
    "run.trigger": ("きっかけ", "Trigger"),
    "run.requested": ("要求", "Requested"),
    "run.started": ("開始", "Started"),
    "run.finished": ("終了", "Finished"),
    "run.duration": ("所要時間", "Duration"),
    "run.progress": ("進捗", "Progress"),
    "run.error": ("エラー", "Error"),
    "run.dry": ("ドライラン", "dry run"),
    "run.issues": ("スキップ・警告したレコード", "Skipped records and warnings"),
    "run.no_issues": ("スキップ・警告したレコードはありません。", "No record was skipped or warned about."),
    "run.issues_unavailable": (
        "この API は同期のスキップ理由をまだ返しません。",
        "This API does not report the skipped records of a run yet.",
    ),
    "run.issue.kind": ("種類", "Kind"),
    "run.issue.device": ("MDM デバイス", "MDM device"),
    "run.issue.field": ("項目", "Field"),
    "run.issue.reason": ("理由", "Reason"),
    "run.plan": ("ドライランの結果", "Dry-run result"),
    "run.live": ("自動更新中", "updating live"),
    "status.requested": ("待機中", "requested"),
    "status.running": ("実行中", "running"),
    "status.completed": ("完了", "completed"),
    "status.failed": ("失敗", "failed"),
    "status.refused": ("拒否", "refused"),
    "status.active": ("有効", "active"),
    "status.paused": ("一時停止中", "paused"),
    "status.removed": ("解除済", "removed"),
    "status.open": ("未解決", "open"),
    "status.resolved": ("解決済", "resolved"),
    "trigger.schedule": ("定時", "schedule"),
    "trigger.manual": ("手動", "manual"),
    "trigger.link_created": ("連携時", "link created"),
    "count.seen": ("確認", "seen"),
    "count.created": ("作成", "created"),
    "count.updated": ("更新", "updated"),
    "count.unchanged": ("変更なし", "unchanged"),
    "count.conflicts": ("競合", "conflicts"),
    "count.missing": ("消失", "missing"),
    "count.errors": ("エラー", "errors"),
    "count.skipped": ("スキップ", "skipped"),
    "count.warnings": ("警告", "warnings"),
    # conflicts
    "conf.title": ("競合", "Conflicts"),
    "conf.none": ("競合はありません。", "No conflict."),
    "conf.rule": ("理由", "Reason"),
    "conf.rule.ambiguous_match": (
        "突合キーが複数の台帳デバイスに一致しました",
        "The matching key matches several ledger devices",
    ),
    "conf.rule.bound_to_other_mdm_device": (
        "一致したデバイスは別の MDM デバイスに紐付いています",
        "The matching device is bound to another MDM device",
    ),
    "conf.rule.bound_to_other_integration": (
        "一致したデバイスは別の連携に紐付いています",
        "The matching device is bound to another integration",
    ),
    "conf.observed": ("MDM のデバイス", "The MDM's device"),
    "conf.candidate": ("候補 {n}", "Candidate {n}"),
    "conf.link": ("このデバイスに紐付ける", "Link to this device"),
    "conf.create": ("新規デバイスとして作成", "Create a new device"),
    "conf.ignore": ("無視する", "Ignore"),
    "conf.resolved": ("競合を解決しました。", "The conflict is resolved."),
    "conf.accepted": ("受け付けました。反映中です。", "Accepted; being applied."),
    "conf.resolution": ("解決方法", "Resolution"),
    "conf.recorded": ("記録日時", "Recorded"),
    "conf.gone": ("(削除済み)", "(deleted)"),
    "conf.bound_to": ("紐付け先", "Bound to"),
    # generic
    "err.title": ("エラー", "Error"),
    "err.forbidden": ("この操作の権限がありません。", "You may not do this."),
    "err.csrf": ("フォームの有効期限が切れました。もう一度お試しください。", "The form expired; try again."),
    "err.api": ("API エラー ({status} {code}): {message}", "API error ({status} {code}): {message}"),
    "err.not_found": ("見つかりません。", "Not found."),
    "common.back": ("戻る", "Back"),
    "common.yes": ("はい", "yes"),
    "common.no": ("いいえ", "no"),
    "common.details": ("詳細", "Details"),
    "common.refresh": ("更新", "Refresh"),
    "common.all": ("すべて", "All"),
}

MESSAGES: dict[Lang, dict[str, str]] = {
    "ja": {k: v[0] for k, v in _PAIRS.items()},
    "en": {k: v[1] for k, v in _PAIRS.items()},
}


def negotiate(explicit: str | None, accept_language: str | None) -> Lang:
    """An explicit choice (query or cookie) wins; else the first of the browser's languages we have,
    by q-value; else English."""
    if explicit in LANGS:
        return explicit
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        piece = part.strip()
        if not piece:
            continue
        tag, _, params = piece.partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranked.append((-q, i, tag.strip().lower()))
    for neg_q, _, tag in sorted(ranked):
        if neg_q >= 0:  # q=0 means "not this one"
            continue
        primary = tag.split("-")[0]
        if primary in LANGS:
            return primary
    return DEFAULT_LANG


@dataclass(frozen=True)
class Translator:
    lang: Lang

    def __call__(self, key: str, **values: object) -> str:
        text = MESSAGES[self.lang][key]
        return text.format(**values) if values else text.replace("{{", "{").replace("}}", "}")

    def has(self, key: str) -> bool:
        return key in MESSAGES[self.lang]
