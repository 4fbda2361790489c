/*
 * BRAnyChatSDKProc.h - the C++ helper class that vendor samples derive from.
 * Header-only, written for anychat-rs (not generated): derive from
 * CBRAnyChatSDKProc and override the virtual methods you need; every method
 * has an empty default body.
 *
 * The constructor registers this object's dispatchers (with `this` as the
 * user value) for video data (RGB24), audio data, volume change, text
 * messages, trans-buffers, trans-buffer-ex, trans-files, record/snapshot,
 * SDK filter data and notify messages; the destructor unregisters them.
 * Callbacks run on the library's network thread: keep the object alive
 * until BRAC_Release() has returned.
 */
#ifndef ANYCHAT_BRANYCHATSDKPROC_H
#define ANYCHAT_BRANYCHATSDKPROC_H

#ifndef __cplusplus
#error "BRAnyChatSDKProc.h is C++ only"
#endif

#include "BRAnyChatCoreSDK.h"

class CBRAnyChatSDKProc {
public:
    CBRAnyChatSDKProc() {
        BRAC_SetVideoDataCallBack(BRAC_PIX_FMT_RGB24, VideoData_CallBack, this);
        BRAC_SetAudioDataCallBack(AudioData_CallBack, this);
        BRAC_SetVolumeChangeCallBack(VolumeChange_CallBack, this);
        BRAC_SetTextMessageCallBack(TextMessage_CallBack, this);
        BRAC_SetTransBufferCallBack(TransBuffer_CallBack, this);
        BRAC_SetTransBufferExCallBack(TransBufferEx_CallBack, this);
        BRAC_SetTransFileCallBack(TransFile_CallBack, this);
        BRAC_SetRecordSnapShotCallBack(RecordSnapShot_CallBack, this);
        BRAC_SetSDKFilterDataCallBack(SDKFilterData_CallBack, this);
        BRAC_SetNotifyMessageCallBack(NotifyMessage_CallBack, this);
    }

    virtual ~CBRAnyChatSDKProc() {
        BRAC_SetVideoDataCallBack(BRAC_PIX_FMT_RGB24, NULL, NULL);
        BRAC_SetAudioDataCallBack(NULL, NULL);
        BRAC_SetVolumeChangeCallBack(NULL, NULL);
        BRAC_SetTextMessageCallBack(NULL, NULL);
        BRAC_SetTransBufferCallBack(NULL, NULL);
        BRAC_SetTransBufferExCallBack(NULL, NULL);
        BRAC_SetTransFileCallBack(NULL, NULL);
        BRAC_SetRecordSnapShotCallBack(NULL, NULL);
        BRAC_SetSDKFilterDataCallBack(NULL, NULL);
        BRAC_SetNotifyMessageCallBack(NULL, NULL);
    }

    /* Notifications (WM_GV_*), dispatched by OnAnyChatNotifyMessageCallBack's caller. */
    virtual void OnAnyChatConnectMessage(BOOL bSuccess) { (void)bSuccess; }
    virtual void OnAnyChatLoginMessage(DWORD dwUserId, DWORD dwErrorCode) { (void)dwUserId; (void)dwErrorCode; }
    virtual void OnAnyChatEnterRoomMessage(DWORD dwRoomId, DWORD dwErrorCode) { (void)dwRoomId; (void)dwErrorCode; }
    virtual void OnAnyChatMicStateChgMessage(DWORD dwUserId, BOOL bGetMic) { (void)dwUserId; (void)bGetMic; }
    virtual void OnAnyChatUserAtRoomMessage(DWORD dwUserId, BOOL bEnter) { (void)dwUserId; (void)bEnter; }
    virtual void OnAnyChatLinkCloseMessage(DWORD dwErrorCode) { (void)dwErrorCode; }
    virtual void OnAnyChatOnlineUserMessage(DWORD dwUserNum, DWORD dwRoomId) { (void)dwUserNum; (void)dwRoomId; }
    virtual void OnAnyChatCameraStateChgMessage(DWORD dwUserId, DWORD dwState) { (void)dwUserId; (void)dwState; }
    virtual void OnAnyChatChatModeChgMessage(DWORD dwUserId, BOOL bPublicChat) { (void)dwUserId; (void)bPublicChat; }
    virtual void OnAnyChatActiveStateChgMessage(DWORD dwUserId, DWORD dwState) { (void)dwUserId; (void)dwState; }
    virtual void OnAnyChatP2PConnectStateMessage(DWORD dwUserId, DWORD dwState) { (void)dwUserId; (void)dwState; }
    virtual void OnAnyChatVideoSizeChgMessage(DWORD dwUserId, DWORD dwWidth, DWORD dwHeight) {
        (void)dwUserId; (void)dwWidth; (void)dwHeight;
    }
    virtual void OnAnyChatPrivateRequestMessage(DWORD dwUserId, DWORD dwRequestId) { (void)dwUserId; (void)dwRequestId; }
    virtual void OnAnyChatPrivateEchoMessage(DWORD dwUserId, DWORD dwErrorCode) { (void)dwUserId; (void)dwErrorCode; }
    virtual void OnAnyChatPrivateExitMessage(DWORD dwUserId, DWORD dwErrorCode) { (void)dwUserId; (void)dwErrorCode; }
    virtual void OnAnyChatSDKWarningMessage(DWORD dwErrorCode, DWORD dwReserved) { (void)dwErrorCode; (void)dwReserved; }
    /* Every notification, before the specific method above. */
    virtual void OnAnyChatNotifyMessageCallBack(DWORD dwNotifyMsg, DWORD wParam, DWORD lParam) {
        (void)dwNotifyMsg; (void)wParam; (void)lParam;
    }

    /* Data callbacks. */
    virtual void OnAnyChatVideoDataCallBack(DWORD dwUserid, LPVOID lpBuf, DWORD dwLen, LPBITMAPINFOHEADER lpbmiHeader) {
        (void)dwUserid; (void)lpBuf; (void)dwLen; (void)lpbmiHeader;
    }
    virtual void OnAnyChatAudioDataCallBack(DWORD dwUserid, LPVOID lpBuf, DWORD dwLen, LPWAVEFORMATEX lpWaveFormatEx) {
        (void)dwUserid; (void)lpBuf; (void)dwLen; (void)lpWaveFormatEx;
    }
    virtual void OnAnyChatTextMsgCallBack(DWORD dwFromUserid, DWORD dwToUserid, BOOL bSecret, LPCTSTR lpMsgBuf, DWORD dwLen) {
        (void)dwFromUserid; (void)dwToUserid; (void)bSecret; (void)lpMsgBuf; (void)dwLen;
    }
    virtual void OnAnyChatTransBufferCallBack(DWORD dwUserid, LPBYTE lpBuf, DWORD dwLen) {
        (void)dwUserid; (void)lpBuf; (void)dwLen;
    }
    virtual void OnAnyChatTransBufferExCallBack(DWORD dwUserid, LPBYTE lpBuf, DWORD dwLen, DWORD wParam, DWORD lParam,
                                                DWORD dwTaskId) {
        (void)dwUserid; (void)lpBuf; (void)dwLen; (void)wParam; (void)lParam; (void)dwTaskId;
    }
    virtual void OnAnyChatTransFileCallBack(DWORD dwUserid, LPCTSTR lpFileName, LPCTSTR lpTempFilePath,
                                            DWORD dwFileLength, DWORD wParam, DWORD lParam, DWORD dwTaskId) {
        (void)dwUserid; (void)lpFileName; (void)lpTempFilePath; (void)dwFileLength; (void)wParam; (void)lParam;
        (void)dwTaskId;
    }
    virtual void OnAnyChatVolumeChangeCallBack(BRAC_AudioDevice device, DWORD dwCurrentVolume) {
        (void)device; (void)dwCurrentVolume;
    }
    virtual void OnAnyChatSDKFilterDataCallBack(LPBYTE lpBuf, DWORD dwLen) { (void)lpBuf; (void)dwLen; }
    virtual void OnAnyChatRecordSnapShotCallBack(DWORD dwUserid, LPCTSTR lpFileName, DWORD dwParam, BOOL bRecordType) {
        (void)dwUserid; (void)lpFileName; (void)dwParam; (void)bRecordType;
    }

private:
    static CBRAnyChatSDKProc *Self(LPVOID lpUserValue) { return static_cast<CBRAnyChatSDKProc *>(lpUserValue); }

    static void CALLBACK NotifyMessage_CallBack(DWORD dwNotifyMsg, DWORD wParam, DWORD lParam, LPVOID lpUserValue) {
        CBRAnyChatSDKProc *p = Self(lpUserValue);
        if (!p) return;
        p->OnAnyChatNotifyMessageCallBack(dwNotifyMsg, wParam, lParam);
        switch (dwNotifyMsg) {
        case WM_GV_CONNECT: p->OnAnyChatConnectMessage((BOOL)wParam); break;
        case WM_GV_LOGINSYSTEM: p->OnAnyChatLoginMessage(wParam, lParam); break;
        case WM_GV_ENTERROOM: p->OnAnyChatEnterRoomMessage(wParam, lParam); break;
        case WM_GV_MICSTATECHANGE: p->OnAnyChatMicStateChgMessage(wParam, (BOOL)lParam); break;
        case WM_GV_USERATROOM: p->OnAnyChatUserAtRoomMessage(wParam, (BOOL)lParam); break;
        case WM_GV_LINKCLOSE: p->OnAnyChatLinkCloseMessage(wParam); break;
        case WM_GV_ONLINEUSER: p->OnAnyChatOnlineUserMessage(wParam, lParam); break;
        case WM_GV_CAMERASTATE: p->OnAnyChatCameraStateChgMessage(wParam, lParam); break;
        case WM_GV_CHATMODECHG: p->OnAnyChatChatModeChgMessage(wParam, (BOOL)lParam); break;
        case WM_GV_ACTIVESTATE: p->OnAnyChatActiveStateChgMessage(wParam, lParam); break;
        case WM_GV_P2PCONNECTSTATE: p->OnAnyChatP2PConnectStateMessage(wParam, lParam); break;
        case WM_GV_VIDEOSIZECHG: p->OnAnyChatVideoSizeChgMessage(wParam, LOWORD(lParam), HIWORD(lParam)); break;
        case WM_GV_PRIVATEREQUEST: p->OnAnyChatPrivateRequestMessage(wParam, lParam); break;
        case WM_GV_PRIVATEECHO: p->OnAnyChatPrivateEchoMessage(wParam, lParam); break;
        case WM_GV_PRIVATEEXIT: p->OnAnyChatPrivateExitMessage(wParam, lParam); break;
        case WM_GV_SDKWARNING: p->OnAnyChatSDKWarningMessage(wParam, lParam); break;
        default: break;
        }
    }
    static void CALLBACK VideoData_CallBack(DWORD dwUserid, LPVOID lpBuf, DWORD dwLen, BITMAPINFOHEADER bmiHeader,
                                            LPVOID lpUserValue) {
        if (CBRAnyChatSDKProc *p = Self(lpUserValue)) p->OnAnyChatVideoDataCallBack(dwUserid, lpBuf, dwLen, &bmiHeader);
    }
    static void CALLBACK AudioData_CallBack(DWORD dwUserid, LPVOID lpBuf, DWORD dwLen, WAVEFORMATEX waveFormatEx,
                                            LPVOID lpUserValue) {
        if (CBRAnyChatSDKProc *p = Self(lpUserValue)) p->OnAnyChatAudioDataCallBack(dwUserid, lpBuf, dwLen, &waveFormatEx);
    }
    static void CALLBACK VolumeChange_CallBack(BRAC_AudioDevice device, DWORD dwCurrentVolume, LPVOID lpUserValue) {
        if (CBRAnyChatSDKProc *p = Self(lpUserValue)) p->OnAnyChatVolumeChangeCallBack(device, dwCurrentVolume);
    }
    static void CALLBACK TextMessage_CallBack(DWORD dwFromUserid, DWORD dwToUserid, BOOL bSecret, LPCTSTR lpMsgBuf,
                                              DWORD dwLen, LPVOID lpUserValue) {
        if (CBRAnyChatSDKProc *p = Self(lpUserValue))
            p->OnAnyChatTextMsgCallBack(dwFromUserid, dwToUserid, bSecret, lpMsgBuf, dwLen);
    }
    static void CALLBACK TransBuffer_CallBack(DWORD dwUserid, LPBYTE lpBuf, DWORD dwLen, LPVOID lpUserValue) {
        if (CBRAnyChatSDKProc *p = Self(lpUserValue)) p->OnAnyChatTransBufferCallBack(dwUserid, lpBuf, dwLen);
    }
    static void CALLBACK TransBufferEx_CallBack(DWORD dwUserid, LPBYTE lpBuf, DWORD dwLen, DWORD wParam, DWORD lParam,
                                                DWORD dwTaskId, LPVOID lpUserValue) {
        if (CBRAnyChatSDKProc *p = Self(lpUserValue))
            p->OnAnyChatTransBufferExCallBack(dwUserid, lpBuf, dwLen, wParam, lParam, dwTaskId);
    }
    static void CALLBACK TransFile_CallBack(DWORD dwUserid, LPCTSTR lpFileName, LPCTSTR lpTempFilePath,
                                            DWORD dwFileLength, DWORD wParam, DWORD lParam, DWORD dwTaskId,
                                            LPVOID lpUserValue) {
        if (CBRAnyChatSDKProc *p = Self(lpUserValue))
            p->OnAnyChatTransFileCallBack(dwUserid, lpFileName, lpTempFilePath, dwFileLength, wParam, lParam, dwTaskId);
    }
    static void CALLBACK SDKFilterData_CallBack(LPBYTE lpBuf, DWORD dwLen, LPVOID lpUserValue) {
        if (CBRAnyChatSDKProc *p = Self(lpUserValue)) p->OnAnyChatSDKFilterDataCallBack(lpBuf, dwLen);
    }
    static void CALLBACK RecordSnapShot_CallBack(DWORD dwUserid, LPCTSTR lpFileName, DWORD dwParam, BOOL bRecordType,
                                                 LPVOID lpUserValue) {
        if (CBRAnyChatSDKProc *p = Self(lpUserValue))
            p->OnAnyChatRecordSnapShotCallBack(dwUserid, lpFileName, dwParam, bRecordType);
    }
};

#endif /* ANYCHAT_BRANYCHATSDKPROC_H */
