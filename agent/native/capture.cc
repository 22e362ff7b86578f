// Flowmesh's libpcap binding (Node-API). One Capture object owns one pcap_t: a live interface
// or a capture file. Packets reach JavaScript in batches: each batch is filled by pcap_dispatch
// into a Buffer the caller owns (packet bytes back to back) plus a Float64Array of per-packet
// headers, 3 doubles per packet whose bytes hold
//   [0..8)   timestamp, epoch microseconds (f64)
//   [8..12)  offset of the packet in the data buffer (u32)
//   [12..16) captured length (u32)
//   [16..20) length on the wire (u32)
//   [20..24) unused
// so JavaScript reads every packet in place: one call per batch, no object per packet.
//
// Live captures are read on libuv's loop: a uv_poll handle watches libpcap's selectable fd
// (the handle is nonblocking) and each readiness fills at most one batch, so a sustained
// overload cannot hold the event loop (the poll is level-triggered: what is left is read on
// the next turn). Files are read synchronously, one batch per read() call.
//
// Lifetime: close() stops the poll handle (uv_close; its memory is freed in the close callback,
// never with the object), then pcap_close()s. A polling capture holds a strong reference to its
// JavaScript object, dropped at close, so it is never collected while open; a collected or
// never-closed object is closed by its finalizer, and an environment shutting down (a worker
// thread ending) closes what is still open through a cleanup hook.
#include <napi.h>
#include <pcap/pcap.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>

namespace {

constexpr size_t kHeaderBytes = 24;
// libpcap may hand over a few bytes more than the snapshot length: a VLAN tag put back into
// the frame (4 bytes) or a cooked header on `any`; batches keep this much room per packet.
constexpr size_t kCaplenSlack = 256;
// libpcap's MAXIMUM_SNAPLEN: no packet it hands over is longer.
constexpr int kMaximumSnaplen = 262144;
constexpr double kTwoPow32 = 4294967296.0;

// Handles alive in the process (all environments), for leak checks: libpcap handles open, and
// poll handles not yet released by libuv's close callback.
std::atomic<int64_t> openPcapHandles{0};
std::atomic<int64_t> openPollHandles{0};

class Capture : public Napi::ObjectWrap<Capture> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Capture",
                       {
                           InstanceMethod<&Capture::OpenLive>("openLive"),
                           InstanceMethod<&Capture::OpenOffline>("openOffline"),
                           InstanceMethod<&Capture::SetFilter>("setFilter"),
                           InstanceMethod<&Capture::LinkType>("linkType"),
                           InstanceMethod<&Capture::Snapshot>("snapshot"),
                           InstanceMethod<&Capture::Read>("read"),
                           InstanceMethod<&Capture::Start>("start"),
                           InstanceMethod<&Capture::Stats>("stats"),
                           InstanceMethod<&Capture::Close>("close"),
                       });
  }

  explicit Capture(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Capture>(info) {}

  ~Capture() override { Release(); }

 private:
  // openLive(device, snapLen, bufferBytes, promiscuous, timeoutMs): timeoutMs 0 = immediate
  // mode. Returns libpcap's activation warning (no such feature, promiscuous mode not
  // supported...) or undefined; throws libpcap's error.
  Napi::Value OpenLive(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CanOpen(env)) return env.Undefined();
    if (info.Length() < 5 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsBoolean() ||
        !info[4].IsNumber()) {
      return Fail(env, "openLive(device, snapLen, bufferBytes, promiscuous, timeoutMs): bad arguments");
    }
    device_ = info[0].As<Napi::String>().Utf8Value();
    const int snapLen = info[1].As<Napi::Number>().Int32Value();
    const int bufferBytes = info[2].As<Napi::Number>().Int32Value();
    const bool promiscuous = info[3].As<Napi::Boolean>().Value();
    const int timeoutMs = info[4].As<Napi::Number>().Int32Value();

    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t* p = pcap_create(device_.c_str(), errbuf);
    if (p == nullptr) return Fail(env, errbuf);
    pcap_set_snaplen(p, snapLen);
    pcap_set_promisc(p, promiscuous ? 1 : 0);
    pcap_set_buffer_size(p, bufferBytes);
    if (timeoutMs == 0) {
      pcap_set_immediate_mode(p, 1);
    } else {
      pcap_set_timeout(p, timeoutMs);
    }
    const int status = pcap_activate(p);
    if (status < 0) {
      std::string message = StatusMessage(p, status);
      pcap_close(p);
      return Fail(env, message);
    }
    Napi::Value warning = status > 0 ? Napi::String::New(env, StatusMessage(p, status)) : env.Undefined();
    if (pcap_setnonblock(p, 1, errbuf) < 0) {
      pcap_close(p);
      return Fail(env, std::string("cannot make the capture nonblocking: ") + errbuf);
    }
    pcap_ = p;
    openPcapHandles++;
    live_ = true;
    Track(env);
    return warning;
  }

  // openOffline(path): throws libpcap's error (no such file, unknown file format...).
  Napi::Value OpenOffline(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CanOpen(env)) return env.Undefined();
    if (info.Length() < 1 || !info[0].IsString()) return Fail(env, "openOffline(path): bad arguments");
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, errbuf);
    if (p == nullptr) return Fail(env, errbuf);
    pcap_ = p;
    openPcapHandles++;
    Track(env);
    return env.Undefined();
  }

  // setFilter(expression): compiles and installs a BPF filter; throws the compiler's message.
  Napi::Value SetFilter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!IsOpen(env)) return env.Undefined();
    if (info.Length() < 1 || !info[0].IsString()) return Fail(env, "setFilter(expression): bad arguments");
    const std::string expression = info[0].As<Napi::String>().Utf8Value();
    bpf_u_int32 net = 0;
    bpf_u_int32 mask = PCAP_NETMASK_UNKNOWN;
    char errbuf[PCAP_ERRBUF_SIZE];
    // the netmask only matters to `ip broadcast`; an interface without IPv4 has none
    if (live_ && pcap_lookupnet(device_.c_str(), &net, &mask, errbuf) < 0) mask = PCAP_NETMASK_UNKNOWN;
    struct bpf_program program;
    if (pcap_compile(pcap_, &program, expression.c_str(), 1, mask) < 0) return Fail(env, pcap_geterr(pcap_));
    const int installed = pcap_setfilter(pcap_, &program);
    pcap_freecode(&program);
    if (installed < 0) return Fail(env, pcap_geterr(pcap_));
    return env.Undefined();
  }

  // linkType(): the DLT number (pcap_datalink).
  Napi::Value LinkType(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!IsOpen(env)) return env.Undefined();
    return Napi::Number::New(env, pcap_datalink(pcap_));
  }

  // snapshot(): the largest captured length a batch must hold room for (snap length plus slack).
  Napi::Value Snapshot(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!IsOpen(env)) return env.Undefined();
    return Napi::Number::New(env, static_cast<double>(MaxCaplen()));
  }

  // read(data, headers): fills one batch synchronously; returns the packet count, 0 at the end
  // of a file (or, live, when nothing is ready). A read error after some packets returns those
  // first and throws at the next call.
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!IsOpen(env)) return env.Undefined();
    if (poll_ != nullptr) return Fail(env, "read(): the capture is being polled (start() was called)");
    if (!BindBatch(info, 0)) return Fail(env, "read(data: Buffer, headers: Float64Array): bad arguments");
    if (failed_) return Fail(env, error_);
    const uint32_t count = FillBatch();
    if (failed_ && count == 0) return Fail(env, error_);
    return Napi::Number::New(env, count);
  }

  // start(data, headers, onBatch): live only. Polls libpcap's fd on the event loop and calls
  // onBatch(count, error) once per batch; `error` (a string) means capture stopped on a read
  // error after these packets.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!IsOpen(env)) return env.Undefined();
    if (!live_) return Fail(env, "start(): only a live capture is polled; read a file with read()");
    if (poll_ != nullptr) return Fail(env, "start(): already started");
    if (!BindBatch(info, 0) || info.Length() < 3 || !info[2].IsFunction()) {
      return Fail(env, "start(data: Buffer, headers: Float64Array, onBatch: Function): bad arguments");
    }
    const int fd = pcap_get_selectable_fd(pcap_);
    if (fd < 0) return Fail(env, "libpcap has no selectable file descriptor for this interface");
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return Fail(env, "no event loop");
    auto* poll = new uv_poll_t;
    const int status = uv_poll_init(loop, poll, fd);
    if (status < 0) {
      delete poll;
      return Fail(env, std::string("cannot watch the capture: ") + uv_strerror(status));
    }
    poll->data = this;
    poll_ = poll;
    openPollHandles++;
    onBatch_ = Napi::Persistent(info[2].As<Napi::Function>());
    napi_async_init(env, Value(), Napi::String::New(env, "flowmesh:capture"), &asyncContext_);
    uv_poll_start(poll_, UV_READABLE, &Capture::OnReadable);
    Ref();  // an open capture is reachable through its poll handle, so it stays alive
    return env.Undefined();
  }

  // stats(): [ps_recv, ps_drop, ps_ifdrop] (libpcap's u32 counters since open).
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!IsOpen(env)) return env.Undefined();
    struct pcap_stat stats;
    if (pcap_stats(pcap_, &stats) < 0) return Fail(env, pcap_geterr(pcap_));
    Napi::Array out = Napi::Array::New(env, 3);
    out.Set(0u, Napi::Number::New(env, stats.ps_recv));
    out.Set(1u, Napi::Number::New(env, stats.ps_drop));
    out.Set(2u, Napi::Number::New(env, stats.ps_ifdrop));
    return out;
  }

  // close(): idempotent; safe inside onBatch.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    const bool wasPolling = poll_ != nullptr;
    Release();
    // Dropped after Release so the poll handle can no longer reach this object. Inside
    // onBatch the object also stays alive through OnReady's local handle until it returns.
    if (wasPolling) Unref();
    return info.Env().Undefined();
  }

  static void OnReadable(uv_poll_t* handle, int status, int /*events*/) {
    static_cast<Capture*>(handle->data)->OnReady(status);
  }

  void OnReady(int status) {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::Object self = Value();  // keeps this object alive while JavaScript runs below
    const uint32_t count = FillBatch();
    if (status < 0 && !failed_) {
      failed_ = true;
      error_ = std::string("polling the capture failed: ") + uv_strerror(status);
    }
    if (count == 0 && !failed_) return;
    if (failed_ && poll_ != nullptr) uv_poll_stop(poll_);  // the owner closes; nothing more to read
    napi_value args[2] = {Napi::Number::New(env, count),
                          failed_ ? Napi::String::New(env, error_) : env.Undefined()};
    napi_value result;
    inCallback_ = true;
    const napi_status called = napi_make_callback(env, asyncContext_, self, onBatch_.Value(), 2, args, &result);
    inCallback_ = false;
    if (called != napi_ok && env.IsExceptionPending()) {
      // onBatch is written not to throw; if it does, report it like any uncaught exception
      napi_fatal_exception(env, env.GetAndClearPendingException().Value());
    }
    if (closed_) DestroyAsyncContext();  // closed inside onBatch: its context outlived the call
  }

  // Fills the bound batch from libpcap: packet bytes back to back, one header record each.
  // Each pcap_dispatch asks for no more packets than surely fit. Returns the packet count;
  // sets failed_/error_ on a read error (the packets before it are counted).
  uint32_t FillBatch() {
    count_ = 0;
    used_ = 0;
    if (pcap_ == nullptr || failed_) return 0;
    const size_t maxCaplen = MaxCaplen();
    while (count_ < slots_) {
      const size_t room = (dataSize_ - used_) / maxCaplen;
      const size_t wanted = std::min<size_t>(slots_ - count_, room);
      if (wanted == 0) break;
      const int n = pcap_dispatch(pcap_, static_cast<int>(wanted), &Capture::OnPacket, reinterpret_cast<u_char*>(this));
      if (n == PCAP_ERROR) {
        failed_ = true;
        error_ = pcap_geterr(pcap_);
        break;
      }
      if (overflow_) {
        failed_ = true;
        error_ = "libpcap delivered a packet longer than its snapshot length";
        break;
      }
      // fewer than asked: the ring is empty (live) or the file ended; PCAP_ERROR_BREAK is not used
      if (n < static_cast<int>(wanted)) break;
    }
    return count_;
  }

  static void OnPacket(u_char* user, const struct pcap_pkthdr* header, const u_char* bytes) {
    auto* self = reinterpret_cast<Capture*>(user);
    const uint32_t caplen = header->caplen;
    if (caplen > self->dataSize_ - self->used_ || self->count_ >= self->slots_) {
      self->overflow_ = true;
      pcap_breakloop(self->pcap_);
      return;
    }
    std::memcpy(self->data_ + self->used_, bytes, caplen);
    // The pcap format's seconds and microseconds are unsigned 32-bit fields that libpcap reads as
    // signed ones: a negative value is such a field past 2^31 (2038 and later), put back here.
    double seconds = static_cast<double>(header->ts.tv_sec);
    double micros = static_cast<double>(header->ts.tv_usec);
    if (seconds < 0) seconds += kTwoPow32;
    if (micros < 0) micros += kTwoPow32;
    const double tsUs = seconds * 1e6 + micros;
    const uint32_t fields[4] = {static_cast<uint32_t>(self->used_), caplen, header->len, 0};
    uint8_t* record = self->headers_ + static_cast<size_t>(self->count_) * kHeaderBytes;
    std::memcpy(record, &tsUs, sizeof tsUs);
    std::memcpy(record + 8, fields, sizeof fields);
    self->used_ += caplen;
    self->count_++;
  }

  // Takes the data Buffer and header Float64Array at info[from], info[from + 1].
  bool BindBatch(const Napi::CallbackInfo& info, size_t from) {
    if (info.Length() < from + 2 || !info[from].IsBuffer() || !info[from + 1].IsTypedArray()) return false;
    Napi::Buffer<uint8_t> data = info[from].As<Napi::Buffer<uint8_t>>();
    Napi::TypedArray headers = info[from + 1].As<Napi::TypedArray>();
    if (headers.TypedArrayType() != napi_float64_array) return false;
    const size_t slots = headers.ByteLength() / kHeaderBytes;
    if (data.Length() < MaxCaplen() || slots == 0) return false;
    // References keep both alive while a poll may write into them.
    dataRef_ = Napi::Persistent(static_cast<Napi::Object>(data));
    headersRef_ = Napi::Persistent(static_cast<Napi::Object>(headers));
    data_ = data.Data();
    dataSize_ = data.Length();
    headers_ = static_cast<uint8_t*>(headers.ArrayBuffer().Data()) + headers.ByteOffset();
    slots_ = static_cast<uint32_t>(std::min<size_t>(slots, UINT32_MAX));
    return true;
  }

  // A file's header may claim any snap length; libpcap refuses packets beyond its maximum.
  size_t MaxCaplen() const {
    const int snapshot = pcap_snapshot(pcap_);
    return static_cast<size_t>(snapshot > 0 && snapshot < kMaximumSnaplen ? snapshot : kMaximumSnaplen) + kCaplenSlack;
  }

  // Stops polling (the handle is freed by libuv's close callback), closes libpcap, drops the
  // references to JavaScript objects. Idempotent; calls no JavaScript (runs in the finalizer).
  void Release() {
    if (poll_ != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* handle) {
        delete reinterpret_cast<uv_poll_t*>(handle);
        openPollHandles--;
      });
      poll_ = nullptr;
    }
    if (pcap_ != nullptr) {
      pcap_close(pcap_);
      pcap_ = nullptr;
      openPcapHandles--;
    }
    if (!inCallback_) DestroyAsyncContext();
    // Persistent references are roots: onBatch's closure usually reaches this object, so
    // keeping them past close would keep both (and the batch buffers) alive for good.
    onBatch_.Reset();
    dataRef_.Reset();
    headersRef_.Reset();
    if (tracked_) {
      napi_remove_env_cleanup_hook(env_, &Capture::OnEnvironmentExit, this);
      tracked_ = false;
    }
    data_ = nullptr;
    headers_ = nullptr;
    dataSize_ = 0;
    slots_ = 0;
    closed_ = true;
  }

  void DestroyAsyncContext() {
    if (asyncContext_ == nullptr) return;
    napi_async_destroy(env_, asyncContext_);
    asyncContext_ = nullptr;
  }

  void Track(napi_env env) {
    env_ = env;
    napi_add_env_cleanup_hook(env, &Capture::OnEnvironmentExit, this);
    tracked_ = true;
  }

  static void OnEnvironmentExit(void* arg) {
    auto* self = static_cast<Capture*>(arg);
    self->tracked_ = false;        // the hook is being run: do not remove it again
    self->asyncContext_ = nullptr;  // the environment is going away with its async hooks
    self->Release();
  }

  bool CanOpen(Napi::Env env) {
    if (pcap_ == nullptr && !closed_) return true;
    Fail(env, closed_ ? "the capture is closed" : "the capture is already open");
    return false;
  }

  bool IsOpen(Napi::Env env) {
    if (pcap_ != nullptr) return true;
    Fail(env, closed_ ? "the capture is closed" : "the capture is not open");
    return false;
  }

  static std::string StatusMessage(pcap_t* p, int status) {
    const std::string detail = pcap_geterr(p);
    const std::string name = pcap_statustostr(status);
    if (detail.empty()) return name;
    // PCAP_ERROR and PCAP_WARNING carry their whole message in the error buffer
    if (status == PCAP_ERROR || status == PCAP_WARNING) return detail;
    return name + ": " + detail;
  }

  static Napi::Value Fail(Napi::Env env, const std::string& message) {
    Napi::Error::New(env, message).ThrowAsJavaScriptException();
    return env.Undefined();
  }

  pcap_t* pcap_ = nullptr;
  bool live_ = false;
  bool closed_ = false;
  std::string device_;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference onBatch_;
  napi_async_context asyncContext_ = nullptr;
  bool inCallback_ = false;
  napi_env env_ = nullptr;
  bool tracked_ = false;

  Napi::ObjectReference dataRef_;
  Napi::ObjectReference headersRef_;
  uint8_t* data_ = nullptr;
  size_t dataSize_ = 0;
  uint8_t* headers_ = nullptr;
  uint32_t slots_ = 0;

  // the batch being filled
  uint32_t count_ = 0;
  size_t used_ = 0;
  bool overflow_ = false;
  bool failed_ = false;
  std::string error_;
};

Napi::Value LibVersion(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), pcap_lib_version()); }

// openHandles(): [libpcap handles open, poll handles not yet released] in this process.
Napi::Value OpenHandles(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, static_cast<double>(openPcapHandles.load())));
  out.Set(1u, Napi::Number::New(env, static_cast<double>(openPollHandles.load())));
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Capture", Capture::Define(env));
  exports.Set("libVersion", Napi::Function::New<LibVersion>(env, "libVersion"));
  exports.Set("openHandles", Napi::Function::New<OpenHandles>(env, "openHandles"));
  return exports;
}

}  // namespace

NODE_API_MODULE(flowmesh_capture, Init)
