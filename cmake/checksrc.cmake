# Fails when a banned function (sprintf, strcpy, strcat, atoi, gets) is called in src/ or tests/.
file(GLOB_RECURSE files "${SRC_DIR}/src/*.c" "${SRC_DIR}/src/*.h" "${SRC_DIR}/tests/*.c"
  "${SRC_DIR}/tests/*.h" "${SRC_DIR}/bench/*.c")
set(bad "")
foreach(f ${files})
  file(STRINGS "${f}" lines REGEX "(^|[^a-zA-Z0-9_])(sprintf|vsprintf|strcpy|strcat|atoi|gets)[ \t]*\\(")
  foreach(l ${lines})
    string(APPEND bad "${f}: ${l}\n")
  endforeach()
endforeach()
if(bad)
  message(FATAL_ERROR "banned functions (use snprintf, sao_strlcpy, sao_buf, strtol):\n${bad}")
endif()
