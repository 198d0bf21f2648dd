// WriterTreeSink: the importer's TreeSink over an imagefs::Writer, call for call. Kept apart from
// tree_sink.hpp so that only programs that link the Writer see it.
// Invariant: every call and its answer pass through unchanged.
#pragma once

#include "imagefs/import/tree_sink.hpp"

namespace imagefs {

class WriterTreeSink final : public TreeSink {
 public:
  explicit WriterTreeSink(Writer& writer) : writer_(writer) {}
  WriterStatus directory(const char* path, u64 path_length, Metadata metadata) override {
    return writer_.directory(path, path_length, metadata);
  }
  WriterStatus symlink(const char* path, u64 path_length, Metadata metadata, const char* target,
                       u64 target_length) override {
    return writer_.symlink(path, path_length, metadata, target, target_length);
  }
  WriterStatus hardlink(const char* path, u64 path_length, const char* existing, u64 existing_length) override {
    return writer_.hardlink(path, path_length, existing, existing_length);
  }
  WriterStatus file(const char* path, u64 path_length, Metadata metadata, u64 size) override {
    return writer_.file(path, path_length, metadata, size);
  }
  WriterStatus data(const void* bytes, u64 length) override { return writer_.data(bytes, length); }
  WriterStatus remove(const char* path, u64 path_length) override { return writer_.remove(path, path_length); }
  WriterStatus clear(const char* path, u64 path_length) override { return writer_.clear(path, path_length); }

 private:
  Writer& writer_;
};

}  // namespace imagefs
