// qamw/io/safetensors.hpp — everything safetensors in one include: the reader (io/safetensors_reader.hpp), Hugging
// Face checkpoints (io/checkpoint.hpp) and the writer (io/safetensors_writer.hpp). Include the one you need instead
// where compile time matters.
#pragma once

#include <qamw/io/checkpoint.hpp>
#include <qamw/io/safetensors_reader.hpp>
#include <qamw/io/safetensors_writer.hpp>
