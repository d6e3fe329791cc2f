//! `TabletStore`: an open store, with every operation of client-core, and the callbacks through
//! which the app hears of changes.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bianmin_client_core::residents::{self, AccountError};
use bianmin_client_core::{self as cc, Store, client, transfer, watch};
use uuid::Uuid;

use crate::BianminError;
use crate::types::*;

/// Told which documents changed on this device: after each local write (the written document)
/// and after a sync that received changes or rolled back refused edits (every document whose
/// content changed). The app reloads what it shows of them.
///
/// Called on the thread that made the change, after the store is unlocked: it may call back
/// into the store. It should return quickly (post to the UI thread rather than work there).
#[uniffi::export(callback_interface)]
pub trait DocumentsListener: Send + Sync {
    /// These documents (requests or agenda items) changed.
    fn documents_changed(&self, doc_ids: Vec<Uuid>);
}

/// Told how a sync is going, after each round.
#[uniffi::export(callback_interface)]
pub trait SyncListener: Send + Sync {
    /// Figures so far.
    fn sync_progress(&self, progress: SyncProgress);
}

/// Told how a transfer of attachments is going (see `TabletStore.transfer_attachments`).
#[uniffi::export(callback_interface)]
pub trait TransferListener: Send + Sync {
    /// One attachment's figures so far: after each acknowledged chunk sent, each 256 KiB
    /// received, and when it completes.
    fn transfer_progress(&self, progress: TransferProgress);
}

/// The first wait before connecting again after the live connection is lost.
const RECONNECT_FIRST: std::time::Duration = std::time::Duration::from_secs(2);

/// Told that the hub has something new for this device (see `TabletStore.watch`).
#[uniffi::export(callback_interface)]
pub trait HubListener: Send + Sync {
    /// Something in this device's scope changed at the hub: sync to receive it.
    fn hub_changed(&self);
}

/// An open tablet store.
///
/// Every method is blocking (a sync and `watch` for as long as the network takes): call them
/// off the UI thread. Methods may be called from several threads; the store is locked for each
/// database step only, so a sync running in the background does not block the clerk's work
/// for longer than one of its database steps.
#[derive(uniffi::Object)]
pub struct TabletStore {
    store: Mutex<Store>,
    listener: Mutex<Option<Arc<dyn DocumentsListener>>>,
    stop_watch: AtomicBool,
}

impl fmt::Debug for TabletStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TabletStore")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// Client-core's warnings as the binding's records.
fn warned(warnings: Vec<cc::PublicTextWarning>) -> Vec<PublicTextWarning> {
    warnings.into_iter().map(Into::into).collect()
}

/// A failure about residents' accounts as the binding's error: no link (or a link that broke
/// before the answer, when the hub may have done it: the detail says so) is `Network`.
fn account_error(e: AccountError) -> BianminError {
    let detail = e.to_string();
    match e {
        AccountError::Offline(_) | AccountError::Interrupted(_) => BianminError::Network { detail },
        AccountError::Hub { status, code, .. } => BianminError::Refused {
            status,
            code,
            detail,
        },
        AccountError::NotEnrolled => BianminError::NotEnrolled,
        AccountError::Store(inner) => inner.into(),
    }
}

fn poisoned() -> BianminError {
    BianminError::Storage {
        detail: "the store lock was poisoned by an earlier failure; reopen the store".into(),
    }
}

impl TabletStore {
    /// Wraps a store opened by client-core (the Rust-side constructor; the bindings use
    /// [`TabletStore::open`] and [`TabletStore::enroll`]).
    pub fn from_store(store: Store) -> Arc<Self> {
        Arc::new(TabletStore {
            store: Mutex::new(store),
            listener: Mutex::new(None),
            stop_watch: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Store>, BianminError> {
        self.store.lock().map_err(|_| poisoned())
    }

    /// Tells the listener, if any, outside every lock. A listener that fails (a foreign
    /// exception surfaces as a panic here) does not turn a stored write into an error.
    fn notify(&self, ids: Vec<Uuid>) {
        if ids.is_empty() {
            return;
        }
        let listener = match self.listener.lock() {
            Ok(l) => l.clone(),
            Err(_) => return,
        };
        if let Some(l) = listener
            && catch_unwind(AssertUnwindSafe(|| l.documents_changed(ids))).is_err()
        {
            tracing::warn!("the documents listener failed");
        }
    }

    /// Runs a write, then tells the listener which document it changed.
    fn write<T>(
        &self,
        id_of: impl Fn(&T) -> Uuid,
        f: impl FnOnce(&mut Store) -> Result<T, bianmin_client_core::Error>,
    ) -> Result<T, BianminError> {
        let out = {
            let mut store = self.lock()?;
            f(&mut store)?
        };
        self.notify(vec![id_of(&out)]);
        Ok(out)
    }
}

#[uniffi::export]
impl TabletStore {
    /// Opens the store at `path` (a file made by `enroll`).
    ///
    /// An unreadable file is moved aside (`BianminError.Quarantined`); a store written by a
    /// newer version is refused (`BianminError.StoreTooNew`) and left untouched.
    #[uniffi::constructor]
    pub fn open(path: String) -> Result<Arc<Self>, BianminError> {
        Ok(Self::from_store(Store::open(path)?))
    }

    /// Enrols this device with the hub at `server_url` (e.g. `http://192.168.1.10:8080`)
    /// using a one-time code from the township, and creates its store at `path` with the
    /// identity, device number and reference data the hub assigns. The code is spent even if
    /// the store cannot be created afterwards.
    #[uniffi::constructor]
    pub fn enroll(
        path: String,
        server_url: String,
        code: String,
        device_name: String,
    ) -> Result<Arc<Self>, BianminError> {
        let store = client::enroll(
            path,
            &server_url,
            &code,
            &device_name,
            &client::SyncOptions::default(),
        )?;
        Ok(Self::from_store(store))
    }

    /// Registers the listener told of changed documents (replacing any earlier one).
    pub fn set_documents_listener(&self, listener: Box<dyn DocumentsListener>) {
        if let Ok(mut l) = self.listener.lock() {
            *l = Some(Arc::from(listener));
        }
    }

    /// Removes the documents listener.
    pub fn clear_documents_listener(&self) {
        if let Ok(mut l) = self.listener.lock() {
            *l = None;
        }
    }

    // ----- the store -----

    /// Who uses this store.
    pub fn identity(&self) -> Result<Identity, BianminError> {
        Ok(self.lock()?.identity().into())
    }

    /// The device's number (part of receipt numbers).
    pub fn device_no(&self) -> Result<u32, BianminError> {
        Ok(self.lock()?.device_no())
    }

    /// The hub this store syncs with, once enrolled.
    pub fn server_url(&self) -> Result<Option<String>, BianminError> {
        Ok(self.lock()?.server()?.map(|(url, _token)| url))
    }

    /// How many requests and agenda items the store holds.
    pub fn counts(&self) -> Result<StoreCounts, BianminError> {
        let (requests, agenda_items) = self.lock()?.counts()?;
        Ok(StoreCounts {
            requests,
            agenda_items,
        })
    }

    /// The service items a request can be filed for (reference data from the hub).
    pub fn service_items(&self) -> Result<Vec<ServiceItem>, BianminError> {
        let store = self.lock()?;
        Ok(store
            .reference()
            .catalog
            .items
            .iter()
            .map(Into::into)
            .collect())
    }

    /// The villages of the directory, with their grids.
    pub fn villages(&self) -> Result<Vec<Village>, BianminError> {
        let store = self.lock()?;
        Ok(store
            .reference()
            .directory
            .townships
            .iter()
            .flat_map(|t| {
                t.villages.iter().map(|v| Village {
                    code: v.code.clone(),
                    name_zh: v.name_zh.clone(),
                    name_en: v.name_en.clone(),
                    township: t.code.clone(),
                    grids: v.grids.clone(),
                    households: v.households,
                    representatives: v.representatives,
                })
            })
            .collect())
    }

    // ----- requests -----

    /// Files a resident's request, offline: checks every field, gives it its receipt number
    /// and stores it. Nothing is stored if a check fails.
    pub fn file_request(&self, request: NewRequest) -> Result<RequestDetail, BianminError> {
        self.write(
            |d: &RequestDetail| d.id,
            |s| s.file_request(request.into()).map(Into::into),
        )
    }

    /// Appends a lifecycle event (accept, forward, approve...) after checking the workflow and
    /// this identity's permission. Returns the request as it now stands.
    pub fn apply_action(&self, id: Uuid, action: Action) -> Result<RequestDetail, BianminError> {
        self.write(
            |d: &RequestDetail| d.id,
            |s| s.apply(id, action.into()).map(Into::into),
        )
    }

    /// Edits one field of a request, after checking the new value and the permission.
    pub fn edit_request(&self, id: Uuid, edit: FieldEdit) -> Result<RequestDetail, BianminError> {
        self.write(
            |d: &RequestDetail| d.id,
            |s| s.edit(id, edit.into()).map(Into::into),
        )
    }

    /// Adds a comment (1 to 2000 characters) to a request.
    pub fn comment_request(&self, id: Uuid, text: String) -> Result<RequestDetail, BianminError> {
        self.write(
            |d: &RequestDetail| d.id,
            |s| s.comment(id, &text).map(Into::into),
        )
    }

    /// A request with everything its page shows, if this identity may read it.
    pub fn request(&self, id: Uuid) -> Result<RequestDetail, BianminError> {
        Ok(self.lock()?.request(id)?.into())
    }

    /// A request's lifecycle events, in log order.
    pub fn request_history(&self, id: Uuid) -> Result<Vec<HistoryEntry>, BianminError> {
        Ok(self.request(id)?.history)
    }

    /// The request with this receipt number (e.g. `370883101201-007-000042`), as a list row.
    pub fn find_by_receipt(&self, receipt_no: String) -> Result<Option<RequestRow>, BianminError> {
        Ok(self.lock()?.find_by_receipt(&receipt_no)?.map(Into::into))
    }

    /// One page of requests, filtered and sorted, names masked (no document is loaded).
    pub fn list_requests(
        &self,
        filter: RequestFilter,
        sort: RequestSort,
        page: Page,
    ) -> Result<RequestListing, BianminError> {
        let listing = self
            .lock()?
            .list_requests(&filter.into(), sort.into(), page.into())?;
        Ok(listing.into())
    }

    /// How many requests `list_requests` lists with this filter over all its pages.
    pub fn count_requests(&self, filter: RequestFilter) -> Result<u64, BianminError> {
        Ok(self.lock()?.count_requests(&filter.into())?)
    }

    // ----- agenda items -----

    /// Opens an agenda item for the clerk's village.
    pub fn create_agenda(&self, item: NewAgendaItem) -> Result<AgendaDetail, BianminError> {
        self.write(
            |d: &AgendaDetail| d.id,
            |s| s.create_agenda(item.into()).map(Into::into),
        )
    }

    /// Records a meeting, a notice, an objection or a township review on an agenda item, after
    /// checking the stage order and the permission.
    pub fn record_agenda(
        &self,
        id: Uuid,
        action: AgendaAction,
    ) -> Result<AgendaDetail, BianminError> {
        self.write(
            |d: &AgendaDetail| d.id,
            |s| s.record_agenda(id, action.into()).map(Into::into),
        )
    }

    /// Edits an agenda item's title, category or description.
    pub fn edit_agenda(&self, id: Uuid, edit: AgendaEdit) -> Result<AgendaDetail, BianminError> {
        self.write(
            |d: &AgendaDetail| d.id,
            |s| s.edit_agenda(id, edit.into()).map(Into::into),
        )
    }

    /// The warnings for a new agenda item's public texts (title, category, description) that
    /// look like they hold an ID, mobile or bank-card number. Ask before `create_agenda` and
    /// show them to the clerk: a warning, not a refusal.
    pub fn new_agenda_warnings(&self, item: NewAgendaItem) -> Vec<PublicTextWarning> {
        warned(cc::public_text::new_agenda_warnings(&item.into()))
    }

    /// The warnings for a record's public texts (a notice's text and place, an objection's
    /// summary and answer); see `new_agenda_warnings`.
    pub fn agenda_action_warnings(&self, action: AgendaAction) -> Vec<PublicTextWarning> {
        warned(cc::public_text::agenda_action_warnings(&action.into()))
    }

    /// The warnings for an edit of a public text; see `new_agenda_warnings`.
    pub fn agenda_edit_warnings(&self, edit: AgendaEdit) -> Vec<PublicTextWarning> {
        warned(cc::public_text::agenda_edit_warnings(&edit.into()))
    }

    /// Adds a comment (1 to 2000 characters) to an agenda item.
    pub fn comment_agenda(&self, id: Uuid, text: String) -> Result<AgendaDetail, BianminError> {
        self.write(
            |d: &AgendaDetail| d.id,
            |s| s.comment_agenda(id, &text).map(Into::into),
        )
    }

    /// An agenda item with everything its page shows, if this identity may read it.
    pub fn agenda(&self, id: Uuid) -> Result<AgendaDetail, BianminError> {
        Ok(self.lock()?.agenda(id)?.into())
    }

    /// An agenda item's events, in log order, each meeting with its result.
    pub fn agenda_history(&self, id: Uuid) -> Result<Vec<AgendaHistoryEntry>, BianminError> {
        Ok(self.agenda(id)?.history)
    }

    /// One page of agenda items, most recently changed first, optionally only at one stage.
    pub fn list_agenda(
        &self,
        stage: Option<Stage>,
        page: Page,
    ) -> Result<AgendaListing, BianminError> {
        Ok(self
            .lock()?
            .list_agenda(stage.map(Into::into), page.into())?
            .into())
    }

    // ----- attachments -----

    /// Attaches the file at `path` (a JPEG or PNG photo or a PDF, at most 20 MB, judged by its
    /// content, not its name) to request `id` as a photo or scan of `material`, one of the
    /// service item's materials. The bytes are copied beside the store (stored once however
    /// many requests refer to them) before the request records the attachment; nothing is
    /// stored if a check fails. They reach the hub with `transfer_attachments`.
    pub fn attach_file(
        &self,
        id: Uuid,
        material: String,
        path: String,
    ) -> Result<Attachment, BianminError> {
        self.write(
            |_| id,
            |s| {
                s.attach_file(id, &material, std::path::Path::new(&path))
                    .map(Into::into)
            },
        )
    }

    /// Attaches bytes already in memory (a photo just taken), as `attach_file` does a file.
    pub fn attach_bytes(
        &self,
        id: Uuid,
        material: String,
        bytes: Vec<u8>,
    ) -> Result<Attachment, BianminError> {
        self.write(
            |_| id,
            |s| s.attach_bytes(id, &material, &bytes).map(Into::into),
        )
    }

    /// The attachments of request `id`, each with where its bytes stand on this device.
    pub fn attachments(&self, id: Uuid) -> Result<Vec<AttachmentStatus>, BianminError> {
        Ok(self
            .lock()?
            .attachments(id)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The path of an attachment's file on this device, to show it, once its bytes are all
    /// here and match its hash (`BianminError.NotFound` while they are not).
    pub fn open_attachment(&self, id: Uuid, sha256: String) -> Result<String, BianminError> {
        let path = self.lock()?.open_attachment(id, &sha256)?;
        Ok(path.to_string_lossy().into_owned())
    }

    /// Moves attachment bytes: sends what the hub lacks (resuming from what it acknowledged),
    /// then fetches what this device lacks (resuming from what arrived). Run it after `sync`,
    /// on a background thread: the requests themselves never wait for it. An attachment that
    /// cannot be moved is reported in `failed` and tried again next time. The documents
    /// listener hears which requests' attachments changed state.
    #[uniffi::method(default(settings = None))]
    pub fn transfer_attachments(
        &self,
        listener: Box<dyn TransferListener>,
        settings: Option<SyncSettings>,
    ) -> Result<TransferReport, BianminError> {
        let options = settings.unwrap_or_default().into();
        let report = transfer::transfer_attachments(&self.store, &options, &mut |p| {
            if catch_unwind(AssertUnwindSafe(|| listener.transfer_progress(p.into()))).is_err() {
                tracing::warn!("the transfer listener failed");
            }
        })?;
        let mut changed = Vec::new();
        {
            let store = self.lock()?;
            for sha in report.uploaded.iter().chain(&report.downloaded) {
                changed.extend(store.requests_with_blob(sha)?);
            }
        }
        changed.sort();
        changed.dedup();
        self.notify(changed.clone());
        Ok(TransferReport::new(report, changed))
    }

    // ----- sync -----

    /// Syncs with the hub until there is nothing left to exchange: pushes this device's work,
    /// receives what it may read (attachment bytes move apart, with
    /// `transfer_attachments`). `listener` hears the progress after each round; the documents
    /// listener then hears which documents changed (also when the sync fails midway after
    /// receiving some). Unsynced work stays queued if the sync fails.
    ///
    /// `settings` defaults to 200 documents per round, 5 attempts from 500 ms apart (doubling),
    /// and 60 s per exchange.
    #[uniffi::method(default(settings = None))]
    pub fn sync(
        &self,
        listener: Box<dyn SyncListener>,
        settings: Option<SyncSettings>,
    ) -> Result<SyncReport, BianminError> {
        let options = settings.unwrap_or_default().into();
        // Each round says which documents it changed; gathered here so that a sync failing
        // midway still tells the app about the rounds that completed.
        let mut changed: Vec<Uuid> = Vec::new();
        let result = client::sync(&self.store, &options, &mut |p| {
            for id in &p.changed {
                if !changed.contains(id) {
                    changed.push(*id);
                }
            }
            if catch_unwind(AssertUnwindSafe(|| listener.sync_progress(p.into()))).is_err() {
                tracing::warn!("the sync listener failed");
            }
        });
        changed.sort();
        self.notify(changed.clone());
        Ok(SyncReport::new(result?, changed))
    }

    // ----- residents' accounts (on the hub; need the link) -----

    /// The resident accounts of this clerk's village on the hub, by user name: whether each
    /// is activated, deactivated, and until when its pending code works. No personal numbers.
    /// Needs the link (`BianminError.Network` without it).
    #[uniffi::method(default(settings = None))]
    pub fn list_residents(
        &self,
        settings: Option<SyncSettings>,
    ) -> Result<Vec<ResidentAccount>, BianminError> {
        let options = settings.unwrap_or_default().into();
        let list = residents::list_residents(&self.store, &options).map_err(account_error)?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    /// Opens a resident's account over this clerk's village on the hub and returns its
    /// one-time activation code, shown this once: `name` is the user name the resident types
    /// on the phone (letters, digits, `-`, `_`, `.`), `display_name` their name as shown.
    /// Needs the link; without it nothing is changed. Never retried by itself: after a
    /// `Network` error the hub may have opened it (a second try is refused as `409
    /// name_taken`); then issue a code with `new_activation_code`.
    #[uniffi::method(default(settings = None))]
    pub fn open_resident(
        &self,
        name: String,
        display_name: String,
        settings: Option<SyncSettings>,
    ) -> Result<ActivationCode, BianminError> {
        let options = settings.unwrap_or_default().into();
        let issued = residents::open_resident(&self.store, &name, &display_name, &options)
            .map_err(account_error)?;
        Ok(issued.into())
    }

    /// Issues a new one-time activation code for the resident named `name` of this clerk's
    /// village (a lost or expired code, a forgotten password); the earlier unused one stops
    /// working. A resident of another village is `Refused` with 404, like an unknown name.
    #[uniffi::method(default(settings = None))]
    pub fn new_activation_code(
        &self,
        name: String,
        settings: Option<SyncSettings>,
    ) -> Result<ActivationCode, BianminError> {
        let options = settings.unwrap_or_default().into();
        let issued =
            residents::new_activation_code(&self.store, &name, &options).map_err(account_error)?;
        Ok(issued.into())
    }

    /// The edits the hub refused (rolled back here, kept visible), newest first.
    pub fn refused_edits(&self) -> Result<Vec<RefusedEdit>, BianminError> {
        Ok(self
            .lock()?
            .refused_edits()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Listens for the hub's live notices, calling `listener` whenever something in this
    /// device's scope changed there (the app then syncs), and before each connection after
    /// the first (to catch up on what was missed while away). Connects again by itself when the hub restarts
    /// or the link drops or goes silent (45 s without a keep-alive), waiting 2 s, then longer
    /// up to a minute. Blocks until `stop_watching` is called (seen within a second); returns
    /// early only with an error that connecting again would not change (the device revoked or
    /// not enrolled). Run it on a background thread.
    pub fn watch(&self, listener: Box<dyn HubListener>) -> Result<(), BianminError> {
        self.stop_watch.store(false, Ordering::SeqCst);
        let mut heard = || {
            if catch_unwind(AssertUnwindSafe(|| listener.hub_changed())).is_err() {
                tracing::warn!("the hub listener failed");
            }
        };
        watch::keep_watching(
            &self.store,
            &self.stop_watch,
            RECONNECT_FIRST,
            &mut heard,
            &mut |why, wait| tracing::info!("live connection lost ({why}); again in {wait:?}"),
        )?;
        Ok(())
    }

    /// Ends a running `watch`.
    pub fn stop_watching(&self) {
        self.stop_watch.store(true, Ordering::SeqCst);
    }
}
