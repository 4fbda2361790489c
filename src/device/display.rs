//! Drawing users' video into the app's windows (`BRAC_SetVideoPos`): see
//! [`Display`].
#![forbid(unsafe_code)]
