//! The `BRAS_*` functions of the vendor's business-server SDK whose feature
//! this product does not provide (SDK filter data, file transfer, server
//! recording), with the conventions of [`crate::abi::brac::unsupported`]: exact vendor
//! parameters, a `guard` around every body, 21 (`GV_ERR_FUNCOPTERROR`) for
//! a NULL required pointer or a zero required length, else 20
//! (`GV_ERR_FUNCNOTALLOW`), and 720 (`GV_ERR_RECORD_NOTASK`) for stopping a
//! recording, which cannot exist here.
//!
//! Callback setters accept the registration (NULL removes it) and return 0;
//! the registrations are kept in `BRAS_STUB_CALLBACKS` but nothing calls
//! them yet. `BRAS_SetCallBack` (in [`crate::abi::bras::api`]) stores the same
//! callback types here through `set_callback`.
#![allow(non_snake_case, non_camel_case_types, clippy::missing_safety_doc, clippy::too_many_arguments)]

use parking_lot::RwLock;

use crate::abi::brac::api::{guard, Registered, BOOL, DWORD, LPBYTE, LPCTSTR, LPVOID};
use crate::abi::brac::unsupported::record_ctrl;
use crate::abi::bras::api::Unwrap;
use crate::abi::types::*;
use crate::wire::constants::*;

type Slot<T> = Option<Registered<<T as Unwrap>::F>>;

/// Registrations of the business-server callbacks this library accepts but
/// does not call yet, one slot per `BRAS_CBTYPE_*`.
pub(crate) struct BrasStubCallbacks {
    pub(crate) filter_data: Slot<BRAS_OnRecvUserFilterData_CallBack>,
    pub(crate) trans_buffer_ex: Slot<BRAS_OnTransBufferEx_CallBack>,
    pub(crate) trans_file: Slot<BRAS_OnTransFile_CallBack>,
    pub(crate) server_record: Slot<BRAS_OnServerRecord_CallBack>,
    pub(crate) server_record_ex: Slot<BRAS_OnServerRecordEx_CallBack>,
}

pub(crate) static BRAS_STUB_CALLBACKS: RwLock<BrasStubCallbacks> = RwLock::new(BrasStubCallbacks {
    filter_data: None,
    trans_buffer_ex: None,
    trans_file: None,
    server_record: None,
    server_record_ex: None,
});

/// Stores one registration; always 0.
fn set(f: impl FnOnce(&mut BrasStubCallbacks)) -> DWORD {
    guard(|| {
        f(&mut BRAS_STUB_CALLBACKS.write());
        0
    })
}

/// The callback types of `BRAS_SetCallBack` stored here (see
/// [`BrasStubCallbacks`]); other known types 20, unknown 21.
///
/// # Safety
/// `lpFunction` is NULL or a function of the type that goes with `dwCBType`.
pub(crate) unsafe fn set_callback(dwCBType: DWORD, lpFunction: LPVOID, lpUserValue: LPVOID) -> DWORD {
    macro_rules! store {
        ($t:ty, $field:ident) => {{
            // SAFETY: the app passes a function of the type that goes with
            // `dwCBType` (the vendor's contract); NULL maps to None.
            let f: $t = unsafe { std::mem::transmute::<LPVOID, $t>(lpFunction) };
            set(|c| c.$field = Registered::new(f, lpUserValue))
        }};
    }
    match dwCBType {
        BRAS_CBTYPE_FILTERDATA => store!(BRAS_OnRecvUserFilterData_CallBack, filter_data),
        BRAS_CBTYPE_TRANSBUFFEREX => store!(BRAS_OnTransBufferEx_CallBack, trans_buffer_ex),
        BRAS_CBTYPE_TRANSFILE => store!(BRAS_OnTransFile_CallBack, trans_file),
        BRAS_CBTYPE_SERVERRECORD => store!(BRAS_OnServerRecord_CallBack, server_record),
        BRAS_CBTYPE_SERVERRECORDEX => store!(BRAS_OnServerRecordEx_CallBack, server_record_ex),
        t if (1..=BRAS_CBTYPE_USERINFOCTRL).contains(&t) => GV_ERR_FUNCNOTALLOW,
        _ => GV_ERR_FUNCOPTERROR,
    }
}

// ----- callbacks that are accepted but never called yet ----------------------

/// Accepts the registration (NULL removes it), returns 0; never called yet (no SDK filter data).
#[no_mangle]
pub extern "C" fn BRAS_SetOnRecvUserFilterDataCallBack(
    lpFunction: BRAS_OnRecvUserFilterData_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    set(|c| c.filter_data = Registered::new(lpFunction, lpUserValue))
}

/// Accepts the registration (NULL removes it), returns 0; never called yet (no buffer tasks to the server).
#[no_mangle]
pub extern "C" fn BRAS_SetOnTransBufferExCallBack(
    lpFunction: BRAS_OnTransBufferEx_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    set(|c| c.trans_buffer_ex = Registered::new(lpFunction, lpUserValue))
}

/// Accepts the registration (NULL removes it), returns 0; never called yet (no file transfer).
#[no_mangle]
pub extern "C" fn BRAS_SetOnTransFileCallBack(lpFunction: BRAS_OnTransFile_CallBack, lpUserValue: LPVOID) -> DWORD {
    set(|c| c.trans_file = Registered::new(lpFunction, lpUserValue))
}

/// Accepts the registration (NULL removes it), returns 0; never called yet (no recording server).
#[no_mangle]
pub extern "C" fn BRAS_SetOnServerRecordCallBack(
    lpFunction: BRAS_OnServerRecord_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    set(|c| c.server_record = Registered::new(lpFunction, lpUserValue))
}

// ----- transfers and recording ------------------------------------------------

/// Not supported (no buffer tasks; use `BRAS_TransBuffer`): returns 20; a NULL `lpBuf` or `dwTaskId`, or `dwLen` 0: 21.
#[no_mangle]
pub extern "C" fn BRAS_TransBufferEx(
    dwUserId: DWORD,
    lpBuf: LPBYTE,
    dwLen: DWORD,
    wParam: DWORD,
    lParam: DWORD,
    dwFlags: DWORD,
    dwTaskId: *mut DWORD,
) -> DWORD {
    let _ = (dwUserId, wParam, lParam, dwFlags);
    guard(
        || if lpBuf.is_null() || dwLen == 0 || dwTaskId.is_null() { GV_ERR_FUNCOPTERROR } else { GV_ERR_FUNCNOTALLOW },
    )
}

/// Not supported (no file transfer): returns 20; a NULL `lpLocalPathName` or `dwTaskId`: 21.
#[no_mangle]
pub extern "C" fn BRAS_TransFile(
    dwUserId: DWORD,
    lpLocalPathName: LPCTSTR,
    wParam: DWORD,
    lParam: DWORD,
    dwFlags: DWORD,
    dwTaskId: *mut DWORD,
) -> DWORD {
    let _ = (dwUserId, wParam, lParam, dwFlags);
    guard(|| if lpLocalPathName.is_null() || dwTaskId.is_null() { GV_ERR_FUNCOPTERROR } else { GV_ERR_FUNCNOTALLOW })
}

/// Not supported (no recording server): starting returns 20, stopping 720 (`GV_ERR_RECORD_NOTASK`).
#[no_mangle]
pub extern "C" fn BRAS_StreamRecordCtrl(
    dwUserId: DWORD,
    bStartRecord: BOOL,
    dwFlags: DWORD,
    dwParam: DWORD,
    dwRecordServerId: DWORD,
) -> DWORD {
    let _ = (dwUserId, dwFlags, dwParam, dwRecordServerId);
    guard(|| record_ctrl(bStartRecord))
}

/// Not supported (no recording server): starting returns 20, stopping 720 (`GV_ERR_RECORD_NOTASK`).
#[no_mangle]
pub extern "C" fn BRAS_StreamRecordCtrlEx(
    dwUserId: DWORD,
    bStartRecord: BOOL,
    dwFlags: DWORD,
    dwParam: DWORD,
    lpUserStr: LPCTSTR,
    dwRecordServerId: DWORD,
) -> DWORD {
    let _ = (dwUserId, dwFlags, dwParam, lpUserStr, dwRecordServerId);
    guard(|| record_ctrl(bStartRecord))
}

/// Not supported (no recording server): returns 20; a NULL `lpBuf` or `dwLen` 0: 21.
#[no_mangle]
pub extern "C" fn BRAS_TransBuffer2RecordServer(
    dwUserId: DWORD,
    lpBuf: LPBYTE,
    dwLen: DWORD,
    dwParam: DWORD,
    dwRecordServerId: DWORD,
) -> DWORD {
    let _ = (dwUserId, dwParam, dwRecordServerId);
    guard(|| if lpBuf.is_null() || dwLen == 0 { GV_ERR_FUNCOPTERROR } else { GV_ERR_FUNCNOTALLOW })
}
