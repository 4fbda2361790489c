{ A video call through the Delphi / Free Pascal binding, one party per process:
    calltest callee HOST PORT NAME
    calltest caller HOST PORT NAME CALLEE_ID
  The callee prints "userid N" once logged in; the caller needs that id.
  Exit code 0 on success; 1 with a message on stderr on a failure or a
  timeout (20 s for the whole run).

  Free Pascal: fpc -Fu<bindings/delphi> -Fl<dir of libanychat.so> calltest.pas
  and run with LD_LIBRARY_PATH=<dir of libanychat.so>. }

program calltest;

{$IFDEF FPC}
  {$MODE DELPHI}
{$ENDIF}
{$IFDEF MSWINDOWS}
  {$APPTYPE CONSOLE}
{$ENDIF}

uses
{$IFDEF FPC}{$IFDEF UNIX}
  cthreads, { first: the SDK's callbacks come from a thread the RTL did not create }
{$ENDIF}{$ENDIF}
  SysUtils, SyncObjs, AnyChatSDK;

const
  LimitMs = 20000;
  KindNotify = 1;
  KindCall = 2;
  KindText = 3;
  MaxEvents = 512;

type
  TEv = record
    Kind: Integer;
    A, B, C, D, E: DWORD; { notify: msg, wParam, lParam; call: event, user, code, flags, param; text: from, to }
    Secret: Int64;        { text: bSecret as received }
    Ret: Int64;           { callee: what the SDK call made inside the callback returned (-1: none) }
    Str: array[0..255] of AnsiChar;
    Used: Boolean;
  end;
  TPred = function(const E: TEv): Boolean;

var
  Events: array[0..MaxEvents - 1] of TEv;
  EventCount: Integer = 0;
  Printed: Integer = 0;
  Lock: TCriticalSection;
  Signal: TEvent;
  StartTime: TDateTime;
  Role: AnsiString = '?';
  IsCallee: Boolean = False;
  SelfId: DWORD = 0;
  { parameters of the predicates }
  GEvent, GPeer, GRoom: DWORD;

procedure Say(const S: string);
begin
  WriteLn(S);
  Flush(Output);
end;

procedure Fail(const Why: string);
begin
  WriteLn(ErrOutput, 'calltest ', Role, ': FAILED: ', Why);
  Flush(ErrOutput);
  Halt(1);
end;

procedure Check(Ok: Boolean; const What: string);
begin
  if not Ok then
    Fail(What);
end;

procedure Ret(const What: string; Code: DWORD);
begin
  Say('ret ' + What + ' ' + IntToStr(Code));
  Check(Code = 0, What + ' returned ' + IntToStr(Code));
end;

function EvStr(const E: TEv): string;
begin
  case E.Kind of
    KindNotify: Result := Format('notify %d %d %d', [E.A, E.B, E.C]);
    KindCall: Result := Format('call event=%d user=%d code=%d flags=%d param=%d str=%s',
        [E.A, E.B, E.C, E.D, E.E, string(PAnsiChar(@E.Str[0]))]);
  else
    Result := Format('text from=%d to=%d secret=%d msg=%s', [E.A, E.B, E.Secret, string(PAnsiChar(@E.Str[0]))]);
  end;
  if E.Ret >= 0 then
    Result := Result + ' (callback call returned ' + IntToStr(E.Ret) + ')';
end;

function StrIs(const E: TEv; const S: AnsiString): Boolean;
begin
  Result := StrComp(PAnsiChar(@E.Str[0]), PAnsiChar(S)) = 0;
end;

{ ---- callbacks (SDK network thread): copy into the array, no heap, no exceptions }

procedure Push(Kind: Integer; A, B, C, D, E: DWORD; Secret, RetCode: Int64; S: PAnsiChar; Len: Integer);
var
  i: Integer;
begin
  Lock.Acquire;
  if EventCount < MaxEvents then
  begin
    Events[EventCount].Kind := Kind;
    Events[EventCount].A := A;
    Events[EventCount].B := B;
    Events[EventCount].C := C;
    Events[EventCount].D := D;
    Events[EventCount].E := E;
    Events[EventCount].Secret := Secret;
    Events[EventCount].Ret := RetCode;
    Events[EventCount].Used := False;
    i := 0;
    if S <> nil then
      while (i < High(Events[0].Str)) and ((Len < 0) or (i < Len)) and (S[i] <> #0) do
      begin
        Events[EventCount].Str[i] := S[i];
        Inc(i);
      end;
    Events[EventCount].Str[i] := #0;
    Inc(EventCount);
  end;
  Lock.Release;
  Signal.SetEvent;
end;

procedure OnNotify(dwNotifyMsg, wParam, lParam: DWORD; lpUserValue: Pointer);
  {$IFDEF MSWINDOWS}stdcall{$ELSE}cdecl{$ENDIF};
begin
  Push(KindNotify, dwNotifyMsg, wParam, lParam, 0, 0, 0, -1, nil, 0);
end;

procedure OnCall(dwEventType, dwUserId, dwErrorCode, dwFlags, dwParam: DWORD; lpUserStr: PAnsiChar;
  lpUserValue: Pointer); {$IFDEF MSWINDOWS}stdcall{$ELSE}cdecl{$ENDIF};
var
  R: Int64;
begin
  R := -1;
  { The callee accepts and enters the room from inside the callback, as vendor apps do. }
  if IsCallee and (dwEventType = BRAC_VIDEOCALL_EVENT_REQUEST) then
    R := BRAC_VideoCallControl(BRAC_VIDEOCALL_EVENT_REPLY, dwUserId, 0, 0, 0, nil);
  if IsCallee and (dwEventType = BRAC_VIDEOCALL_EVENT_START) then
    R := BRAC_EnterRoom(dwParam, '', 0);
  Push(KindCall, dwEventType, dwUserId, dwErrorCode, dwFlags, dwParam, 0, R, lpUserStr, -1);
end;

procedure OnText(dwFromUserid, dwToUserid: DWORD; bSecret: AC_BOOL; lpMsgBuf: PAnsiChar; dwLen: DWORD;
  lpUserValue: Pointer); {$IFDEF MSWINDOWS}stdcall{$ELSE}cdecl{$ENDIF};
begin
  Push(KindText, dwFromUserid, dwToUserid, 0, 0, 0, bSecret, -1, lpMsgBuf, dwLen);
end;

{ ---- waiting }

function Fatal(const E: TEv): Boolean;
begin
  Result := ((E.Kind = KindNotify) and (E.A = WM_GV_LINKCLOSE))
    or ((E.Kind = KindNotify) and (E.A = WM_GV_CONNECT) and (E.B = 0))
    or ((E.Kind = KindNotify) and (E.A = WM_GV_LOGINSYSTEM) and (E.C <> 0))
    or ((E.Kind = KindCall) and (E.A = BRAC_VIDEOCALL_EVENT_REPLY) and (E.C <> 0));
end;

function ElapsedMs: Int64;
begin
  Result := Round((Now - StartTime) * 24 * 60 * 60 * 1000);
end;

function Wait(const What: string; Match: TPred): TEv;
var
  i, n: Integer;
  Found: Boolean;
  Fresh: array of TEv;
  Left: Int64;
begin
  while True do
  begin
    Found := False;
    Lock.Acquire;
    n := EventCount;
    SetLength(Fresh, n - Printed);
    for i := Printed to n - 1 do
      Fresh[i - Printed] := Events[i];
    for i := 0 to n - 1 do
      if (not Found) and (not Events[i].Used) and Match(Events[i]) then
      begin
        Events[i].Used := True;
        Result := Events[i];
        Found := True;
      end;
    Lock.Release;
    for i := 0 to High(Fresh) do
    begin
      Say(EvStr(Fresh[i]));
      if (not Match(Fresh[i])) and Fatal(Fresh[i]) then
        Fail('while waiting for ' + What + ': ' + EvStr(Fresh[i]));
    end;
    Printed := n;
    if Found then
      Exit;
    Left := LimitMs - ElapsedMs;
    if Left <= 0 then
      Fail('timeout waiting for ' + What);
    Signal.WaitFor(Cardinal(Left));
  end;
end;

function IsConnected(const E: TEv): Boolean;
begin
  Result := (E.Kind = KindNotify) and (E.A = WM_GV_CONNECT) and (E.B = 1);
end;

function IsLogin(const E: TEv): Boolean;
begin
  Result := (E.Kind = KindNotify) and (E.A = WM_GV_LOGINSYSTEM);
end;

function IsRequest(const E: TEv): Boolean;
begin
  Result := (E.Kind = KindCall) and (E.A = BRAC_VIDEOCALL_EVENT_REQUEST);
end;

{ A video-call event GEvent from GPeer. }
function IsCallEvent(const E: TEv): Boolean;
begin
  Result := (E.Kind = KindCall) and (E.A = GEvent) and (E.B = GPeer);
end;

function IsEnterRoom(const E: TEv): Boolean;
begin
  Result := (E.Kind = KindNotify) and (E.A = WM_GV_ENTERROOM) and (E.B = GRoom);
end;

{ Whoever enters second sees two users listed; the first sees the other arrive. }
function IsPeerInRoom(const E: TEv): Boolean;
begin
  Result := (E.Kind = KindNotify) and (((E.A = WM_GV_ONLINEUSER) and (E.B = 2) and (E.C = GRoom))
    or ((E.A = WM_GV_USERATROOM) and (E.B = GPeer) and (E.C = 1)));
end;

function IsTextFromPeer(const E: TEv): Boolean;
begin
  Result := (E.Kind = KindText) and (E.A = GPeer);
end;

function WaitCall(Event, Peer: DWORD; const What: string): TEv;
begin
  GEvent := Event;
  GPeer := Peer;
  Result := Wait(What, IsCallEvent);
end;

function WaitEnterRoom(Room: DWORD): TEv;
begin
  GRoom := Room;
  Result := Wait('WM_GV_ENTERROOM(room)', IsEnterRoom);
  Check(Result.C = 0, 'enter room failed: ' + EvStr(Result));
end;

function UserName(Id: DWORD; out Code: DWORD): AnsiString;
var
  Buf: array[0..255] of AnsiChar;
begin
  FillChar(Buf, SizeOf(Buf), 0);
  Code := BRAC_GetUserName(Id, @Buf[0], SizeOf(Buf));
  Result := AnsiString(PAnsiChar(@Buf[0]));
end;

procedure RunCallee;
var
  Req, Start, Txt, Fin: TEv;
  Caller, Room: DWORD;
  Msg: AnsiString;
begin
  Req := Wait('REQUEST', IsRequest);
  Caller := Req.B;
  Check(Req.Ret = 0, 'reply from the callback returned ' + IntToStr(Req.Ret));
  Check((Req.D = BRAC_VIDEOCALL_FLAGS_AUDIO or BRAC_VIDEOCALL_FLAGS_VIDEO) and (Req.E = 42) and StrIs(Req, 'hello'),
    'request carries flags/param/string unchanged: ' + EvStr(Req));
  Start := WaitCall(BRAC_VIDEOCALL_EVENT_START, Caller, 'START');
  Room := Start.E;
  Check(Room <> 0, 'START without a room id');
  Check(Start.Ret = 0, 'enter room from the callback returned ' + IntToStr(Start.Ret));
  WaitEnterRoom(Room);
  GPeer := Caller;
  Txt := Wait('text from the caller', IsTextFromPeer);
  Check(StrIs(Txt, 'hello from caller') and (Txt.Secret = 1) and (Txt.B = SelfId), 'text: ' + EvStr(Txt));
  Msg := 'hello from callee';
  Ret('text', BRAC_SendTextMessage(Caller, AC_FALSE, PAnsiChar(Msg), Length(Msg)));
  Fin := WaitCall(BRAC_VIDEOCALL_EVENT_FINISH, Caller, 'FINISH');
  Check((Fin.C = 0) and (Fin.E = 7) and StrIs(Fin, 'bye'), 'finish: ' + EvStr(Fin));
end;

procedure RunCaller(Callee: DWORD);
var
  Ringing, Start, Answer, Fin: TEv;
  Room, Code, N: DWORD;
  Ids: array of DWORD;
  PeerName, Msg: AnsiString;
  Secret: AC_BOOL;
begin
  Ret('request', BRAC_VideoCallControl(BRAC_VIDEOCALL_EVENT_REQUEST, Callee, 0,
    BRAC_VIDEOCALL_FLAGS_AUDIO or BRAC_VIDEOCALL_FLAGS_VIDEO, 42, 'hello'));
  Ringing := WaitCall(BRAC_VIDEOCALL_EVENT_REPLY, Callee, 'REPLY(0)');
  Check(Ringing.C = 0, 'reply: ' + EvStr(Ringing));
  Start := WaitCall(BRAC_VIDEOCALL_EVENT_START, Callee, 'START');
  Room := Start.E;
  Check(Room <> 0, 'START without a room id');
  Ret('enter', BRAC_EnterRoom(Room, '', 0));
  WaitEnterRoom(Room);
  GPeer := Callee;
  GRoom := Room;
  Wait('the callee in the room', IsPeerInRoom);
  { Two-step habit: count first, then the array. }
  N := 0;
  Ret('online count', BRAC_GetOnlineUser(nil, N));
  Check(N = 1, 'online users: ' + IntToStr(N));
  SetLength(Ids, N);
  Ret('online', BRAC_GetOnlineUser(@Ids[0], N));
  Check((N = 1) and (Ids[0] = Callee), 'online user ' + IntToStr(Ids[0]));
  PeerName := UserName(Callee, Code);
  Check((Code = 0) and (PeerName <> ''), 'peer name: code ' + IntToStr(Code));
  Say('peer ' + IntToStr(Callee) + ' ' + string(PeerName));
  { A BOOL with only bit 32 set: true only if it reaches the library as a
    64-bit C long (LP64 Linux); where BOOL is 32-bit, plain 1. }
  Secret := 1;
  if SizeOf(AC_BOOL) = 8 then
    Secret := Secret shl 32;
  Msg := 'hello from caller';
  Ret('text', BRAC_SendTextMessage(Callee, Secret, PAnsiChar(Msg), Length(Msg)));
  GPeer := Callee;
  Answer := Wait('text from the callee', IsTextFromPeer);
  Check(StrIs(Answer, 'hello from callee') and (Answer.Secret = 0) and (Answer.B = SelfId), 'text: ' + EvStr(Answer));
  Ret('finish', BRAC_VideoCallControl(BRAC_VIDEOCALL_EVENT_FINISH, Callee, 0, 0, 7, 'bye'));
  Fin := WaitCall(BRAC_VIDEOCALL_EVENT_FINISH, Callee, 'FINISH');
  Check(Fin.C = 0, 'finish: ' + EvStr(Fin));
end;

var
  Host, Name: AnsiString;
  Port, Queried: DWORD;
  Login: TEv;
  Code: DWORD;
  Me: AnsiString;
begin
  IsMultiThread := True;
  StartTime := Now;
  if (ParamCount < 4) or ((ParamStr(1) <> 'caller') and (ParamStr(1) <> 'callee'))
    or ((ParamStr(1) = 'caller') and (ParamCount < 5)) then
  begin
    WriteLn(ErrOutput, 'usage: calltest callee HOST PORT NAME | caller HOST PORT NAME CALLEE_ID');
    Halt(2);
  end;
  Role := AnsiString(ParamStr(1));
  IsCallee := Role = 'callee';
  Host := AnsiString(ParamStr(2));
  Port := StrToInt(ParamStr(3));
  Name := AnsiString(ParamStr(4));
  Lock := TCriticalSection.Create;
  Signal := TEvent.Create(nil, False, False, '');
  Say('BOOL is ' + IntToStr(SizeOf(AC_BOOL)) + ' bytes');

  { Callbacks before InitSDK (the library keeps them). }
  Ret('setnotify', BRAC_SetNotifyMessageCallBack(OnNotify, nil));
  Ret('setcall', BRAC_SetVideoCallEventCallBack(OnCall, nil));
  Ret('settext', BRAC_SetTextMessageCallBack(OnText, nil));
  Ret('init', BRAC_InitSDK(nil, 0));
  Ret('connect', BRAC_Connect(PAnsiChar(Host), Port));
  Ret('login', BRAC_Login(PAnsiChar(Name), '', 0));
  Wait('WM_GV_CONNECT(1)', IsConnected);
  Login := Wait('WM_GV_LOGINSYSTEM', IsLogin);
  Check((Login.C = 0) and (Login.B <> 0), 'login failed: ' + EvStr(Login));
  SelfId := Login.B;
  Queried := 0;
  Ret('query', BRAC_QueryUserState(AC_SELF, BRAC_USERSTATE_SELFUSERID, PAnsiChar(@Queried), SizeOf(Queried)));
  Check(Queried = SelfId, 'SELFUSERID ' + IntToStr(Queried) + ' <> ' + IntToStr(SelfId));
  Me := UserName(AC_SELF, Code);
  Check((Code = 0) and (Me = Name), 'own name ''' + string(Me) + ''' code ' + IntToStr(Code));
  Say('userid ' + IntToStr(SelfId));

  if IsCallee then
    RunCallee
  else
    RunCaller(StrToInt(ParamStr(5)));

  Ret('release', BRAC_Release);
  Say(string(Role) + ' done');
end.
