// TreeSink: the calls the importer makes to build an image tree, exactly imagefs::Writer's
// (writer.hpp). WriterTreeSink forwards them to a Writer; tests put a recorder in between to see
// every call, and that none follows an error.
// Invariant: a TreeSink answers each call as the Writer would (WriterStatus, WriterError).
#pragma once

#include "imagefs/import/types.hpp"
#include "imagefs/writer.hpp"

namespace imagefs {

class TreeSink {
 public:
  virtual WriterStatus directory(const char* path, u64 path_length, Metadata metadata) = 0;
  virtual WriterStatus symlink(const char* path, u64 path_length, Metadata metadata, const char* target,
                               u64 target_length) = 0;
  virtual WriterStatus hardlink(const char* path, u64 path_length, const char* existing, u64 existing_length) = 0;
  virtual WriterStatus file(const char* path, u64 path_length, Metadata metadata, u64 size) = 0;
  virtual WriterStatus data(const void* bytes, u64 length) = 0;
  virtual WriterStatus remove(const char* path, u64 path_length) = 0;
  virtual WriterStatus clear(const char* path, u64 path_length) = 0;

 protected:
  ~TreeSink() = default;
};

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
