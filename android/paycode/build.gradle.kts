// io.paycode:paycode — the Android library (AAR): Rust core (jniLibs/<abi>/libpaycode_ffi.so),
// uniffi-generated Kotlin (src/main/generated, by scripts/gen-bindings.sh) and the thin
// hand-written Android layer (src/main/kotlin).
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "io.paycode"
    compileSdk = 35

    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
        ndk {
            // What android/scripts/build-android-libs.sh builds.
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64")
        }
    }

    sourceSets["main"].apply {
        java.srcDirs("src/main/kotlin", "src/main/generated/kotlin")
        jniLibs.srcDirs("src/main/jniLibs")
    }
    sourceSets["test"].java.srcDirs("src/test/kotlin", "src/testRobolectric/kotlin")

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }

    packaging {
        // The .so files are linked 16 KB-aligned (Google Play, Android 15+); keep them
        // uncompressed and page-aligned in the APK.
        jniLibs.useLegacyPackaging = false
    }
    testOptions.unitTests.isIncludeAndroidResources = true
}

dependencies {
    // JNA as an AAR: carries libjnidispatch.so for every ABI.
    implementation("net.java.dev.jna:jna:5.17.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
    // The generated bindings use @RequiresApi (their Android cleaner).
    implementation("androidx.annotation:annotation:1.9.1")

    testImplementation("junit:junit:4.13.2")
    testImplementation("org.jetbrains.kotlin:kotlin-test-junit")
    testImplementation("org.robolectric:robolectric:4.16.1")
    // Host JVM tests load the host-built library through desktop JNA (see android/README.md).
    testImplementation("net.java.dev.jna:jna:5.17.0")
}
