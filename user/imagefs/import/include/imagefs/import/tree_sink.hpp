// TreeSink: the calls the importer makes to build an image tree, exactly imagefs::Writer's
// (writer.hpp). WriterTreeSink (writer_tree_sink.hpp) forwards them to a Writer; tests put a
// recorder in between to see every call, and that none follows an error.
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

}  // namespace imagefs
